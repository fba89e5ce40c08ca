"""A real Prometheus Alertmanager sends its own webhooks to a running triops: alerts posted
to Alertmanager's API v2 are grouped and delivered by Alertmanager (with its bearer token,
`max_alerts` truncation and `send_resolved`), and triops's stored alerts and incidents are
asserted; then the alerts are resolved (endsAt in the past) and the resolution is asserted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests import realservices
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s

TOKEN = "am-e2e-token"


@pytest.fixture
def triops(tmp_path: Path) -> Iterator[tuple[str, Runtime]]:

    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path / "home", TRIOPS_WEBHOOK_TOKEN=TOKEN), catalog=catalog())
    with realservices.serving(create_app(Router(rt))) as base:
        yield base, rt


def config(base: str) -> str:
    hook = f"""
    send_resolved: true
    http_config:
      authorization:
        type: Bearer
        credentials: {TOKEN}"""
    return f"""
route:
  receiver: triops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - receiver: triops-max1
    matchers: ['alertname="DiskFull"']
receivers:
- name: triops
  webhook_configs:
  - url: {base}/hooks/alertmanager{hook}
- name: triops-max1
  webhook_configs:
  - url: {base}/hooks/alertmanager
    max_alerts: 1{hook}
"""


def rows(rt: Runtime) -> list[dict[str, Any]]:
    with rt.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.alerts).order_by(s.alerts.c.name, s.alerts.c.id)).mappings()]


def incidents(rt: Runtime) -> list[dict[str, Any]]:
    with rt.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.alert_incidents)).mappings()]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def am_alerts(ends: datetime | None) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(minutes=2)
    out = []
    for labels in (
        {"alertname": "HighLatency", "service": "checkout", "severity": "critical", "instance": "a"},
        {"alertname": "HighLatency", "service": "checkout", "severity": "critical", "instance": "b"},
        {"alertname": "DiskFull", "service": "postgres-main", "severity": "warning", "instance": "db1"},
        {"alertname": "DiskFull", "service": "postgres-main", "severity": "warning", "instance": "db2"},
    ):
        a: dict[str, Any] = {"labels": labels, "annotations": {"summary": f"{labels['alertname']} on {labels['instance']}"},
                             "startsAt": start.isoformat(), "generatorURL": "http://prometheus.local/graph"}
        if ends is not None:
            a["endsAt"] = ends.isoformat()
        out.append(a)
    return out


def test_real_alertmanager_delivers_to_triops_and_resolves(tmp_path: Path, triops: tuple[str, Runtime]) -> None:
    base, rt = triops
    with realservices.alertmanager(tmp_path / "am", config(base)) as am:
        r = httpx.post(f"{am.url}/api/v2/alerts", json=am_alerts(None), timeout=10)
        assert r.status_code == 200, r.text
        # HighLatency: both alerts; DiskFull: max_alerts 1, so Alertmanager holds one back.
        wait_for(lambda: len(rows(rt)) >= 3, "Alertmanager's firing notifications")
        time.sleep(2)  # a second group interval: nothing more may arrive
        stored = rows(rt)
        assert [(a["name"], a["status"]) for a in stored] == [
            ("DiskFull", "firing"), ("HighLatency", "firing"), ("HighLatency", "firing")]
        assert all(a["source"] == "alertmanager" and len(a["fingerprint"]) == 16 for a in stored)  # AM's own fingerprint
        (disk,) = [a for a in stored if a["name"] == "DiskFull"]
        assert disk["annotations"]["truncated_alerts"] == "Alertmanager held back 1 more alert"
        assert disk["raw"]["_group"]["truncatedAlerts"] == 1
        # postgres-main is upstream of checkout: its late alert may merge checkout's incident into its own
        live = [i for i in incidents(rt) if i["status"] != "merged"]
        assert live and all(i["status"] == "open" for i in live)
        assert "Alertmanager held back 1 more alert" in json.dumps([i["summary"].get("held_back") for i in incidents(rt)])

        r = httpx.post(f"{am.url}/api/v2/alerts", json=am_alerts(datetime.now(UTC) - timedelta(seconds=1)), timeout=10)
        assert r.status_code == 200, r.text
        wait_for(lambda: all(a["status"] == "resolved" for a in rows(rt)), "Alertmanager's resolved notifications")
        resolved = rows(rt)
        assert len(resolved) == 3  # the resolve updated the same occurrences, no duplicates
        assert all(a["ends_at"] is not None and a["notifications"] >= 2 for a in resolved)
