"""Alert webhooks through the real FastAPI app: stored before 2xx, retries idempotent, 4xx with reasons."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s

FIX = Path(__file__).parent / "fixtures" / "alerts"


@pytest.fixture
def rt(tmp_path):  # type: ignore[no-untyped-def]
    return Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog())


@pytest.fixture
def http(rt):  # type: ignore[no-untyped-def]
    with TestClient(create_app(Router(rt))) as client:
        yield client


def rows(rt: Runtime, table) -> int:  # type: ignore[no-untyped-def]
    with rt.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_alertmanager_hook_stores_and_a_retry_does_not_duplicate(rt, http) -> None:  # type: ignore[no-untyped-def]
    body = (FIX / "alertmanager.json").read_text()
    r1 = http.post("/hooks/alertmanager", content=body, headers={"Content-Type": "application/json"})
    assert r1.status_code == 202, r1.text
    assert r1.json()["stored"] == 2 and len(r1.json()["incidents"]) >= 1
    r2 = http.post("/hooks/alertmanager", content=body, headers={"Content-Type": "application/json"})
    assert r2.status_code == 202
    assert rows(rt, s.alerts) == 2
    with rt.store.engine.connect() as conn:
        counts = sorted(conn.execute(select(s.alerts.c.notifications)).scalars())
    assert counts == [2, 2]


@pytest.mark.parametrize("name,path", [("grafana.json", "/hooks/grafana"), ("opsgenie.json", "/hooks/opsgenie")])
def test_other_sources_are_accepted(rt, http, name, path) -> None:  # type: ignore[no-untyped-def]
    r = http.post(path, content=(FIX / name).read_text(), headers={"Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    assert rows(rt, s.alerts) == 1 and rows(rt, s.alert_incidents) == 1


def test_pagerduty_signature_is_checked_when_a_secret_is_set(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.pagerduty_webhook_secret = SecretStr("pd-secret")
    body = (FIX / "pagerduty.json").read_bytes()
    bad = http.post("/hooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": "v1=" + "0" * 64})
    assert bad.status_code == 401 and "X-PagerDuty-Signature" in bad.json()["detail"]["error"]
    assert rows(rt, s.alerts) == 0
    sig = hmac.new(b"pd-secret", body, hashlib.sha256).hexdigest()
    ok = http.post("/hooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": f"v1=deadbeef,v1={sig}"})
    assert ok.status_code == 202 and rows(rt, s.alerts) == 1


@pytest.mark.parametrize(
    "path,body,reason",
    [
        ("/hooks/alertmanager", "{not json", "body is not valid JSON"),
        ("/hooks/alertmanager", json.dumps({"version": "4"}), "alerts: missing"),
        ("/hooks/alertmanager", json.dumps({"alerts": [{"labels": {"alertname": "X"}, "startsAt": "soon"}]}), "startsAt"),
        ("/hooks/grafana", json.dumps([]), "payload must be a JSON object"),
        ("/hooks/pagerduty", json.dumps({"event": {"event_type": "incident.triggered", "data": {}}}), "event.data.id: missing"),
        ("/hooks/opsgenie", json.dumps({"action": "Create"}), "alert: missing or not an object"),
        ("/hooks/alerts", json.dumps([{"name": "ok"}, {"severity": "P1"}]), "alert 1: name: missing"),
    ],
)
def test_malformed_payloads_get_4xx_with_the_reason_and_store_nothing(rt, http, path, body, reason) -> None:  # type: ignore[no-untyped-def]
    r = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    assert reason in r.json()["detail"]["error"]
    assert rows(rt, s.alerts) == 0


def test_webhook_token_is_required_when_set(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.webhook_token = SecretStr("tok")
    body = json.dumps({"name": "DiskFull", "service": "payments"})
    assert http.post("/hooks/alerts", content=body).status_code == 401
    ok = http.post("/hooks/alerts", content=body, headers={"Authorization": "Bearer tok"})
    assert ok.status_code == 202 and rows(rt, s.alerts) == 1


def test_generic_hook_groups_a_cascade_into_one_incident(rt, http) -> None:  # type: ignore[no-untyped-def]
    batch = [
        {"name": "PostgresDown", "service": "postgres-main", "starts_at": "2026-11-20T10:00:00Z"},
        {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z"},
        {"name": "HighErrorRate", "service": "checkout", "starts_at": "2026-11-20T10:01:40Z"},
    ]
    r = http.post("/hooks/alerts", content=json.dumps(batch))
    assert r.status_code == 202
    assert len(r.json()["incidents"]) == 1
    listed = rt.call("alerts_list", {})
    (inc,) = listed.incidents
    assert inc.alert_count == 3 and inc.causes[0].service == "postgres-main"


@pytest.mark.parametrize(
    "route,body",
    [
        ("/hooks/alerts", {"name": "X", "starts_at": 1e308}),
        ("/hooks/alerts", {"name": "X", "starts_at": "99999999999999999999"}),
        ("/hooks/alerts", {"name": "X", "generator_url": 5}),
        ("/hooks/github", {"deployment_status": [], "deployment": {"id": 1}}),
        ("/hooks/github", {"deployment_status": {"state": "success"}, "deployment": {"id": 1, "sha": "a"}, "repository": "x"}),
    ],
)
def test_malformed_fields_are_a_4xx_not_a_500(tmp_path, route, body) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from bot.router import Router
    from bot.runtime import Runtime
    from bot.web import create_app
    from tools.catalog import ServiceCatalog
    from tools.settings import Settings

    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=ServiceCatalog())
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as client:
        resp = client.post(route, content=json.dumps(body), headers={"X-GitHub-Event": "deployment_status"})
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["detail"]["error"]
