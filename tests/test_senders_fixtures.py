"""Every real upstream payload in tests/fixtures/senders/ through the real app: accepted,
stored right (one alert per upstream alert, lifecycle applied, notes ignored), and a replay
changes nothing. Provenance of each file: tests/fixtures/senders/<source>/SOURCES.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tools.alerts.sources import ALERT_SOURCES
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s
from tools.store import delivery as d

FIX = Path(__file__).parent / "fixtures" / "senders"
ALERT_DIRS = ("alertmanager", "grafana", "pagerduty", "opsgenie")
CHANGE_DIRS = ("argocd", "cdevents", "github", "gitlab")

# Files whose event is not an alert (or not a finished change): 202 "ignored", nothing stored.
IGNORED = {
    "v3-incident.annotated__zulip.json": "incident.annotated",
    "v3-incident.responder.added__zulip.json": "incident.responder.added",
    "v3-incident.status_update_published__zulip.json": "incident.status_update_published",
    "v3-service.created__zulip.json": "service.created",
    "addnote__zulip.json": "AddNote",
    "escalate__zulip.json": "Escalate",
    "customaction-testaction__zulip.json": "TestAction",
    "github-commit-status-running__argocd-docs-webhook-rendered.json": "pending",
    "send-slack-synced__argocd-docs-webhook-rendered.json": "Slack",
    "deployment__octokit-default.json": "deployment",
    "deployment__octokit-gh-pages.json": "deployment",
    "deployment__octokit-with-installation.json": "deployment",
    "deployment_status__octokit-gh-pages.json": "in_progress",
    "workflow_run__octokit-completed.json": "workflow_run",
    "deployment-empty-status__mattermost-plugin-gitlab-fixture.json": "without status",
    "deployment-running__mattermost-plugin-gitlab-fixture.json": "running",
}
# Hand-trimmed upstream test bodies without the identity field: a 4xx naming it.
REJECTED = {
    "deployment-failed__mattermost-plugin-gitlab-fixture.json": "deployment_id: missing",
    "deployment-success__mattermost-plugin-gitlab-fixture.json": "deployment_id: missing",
}


def files(*dirs: str) -> list[Path]:
    return sorted(p for d_ in dirs for p in (FIX / d_).glob("*.json"))


@pytest.fixture
def rt(tmp_path):  # type: ignore[no-untyped-def]
    # the upstream fixtures are historical (Zulip's Opsgenie payloads are from 2015): replaying
    # them is what TRIOPS_TIME_BOUND_YEARS is for
    return Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_TIME_BOUND_YEARS=30), catalog=catalog())


@pytest.fixture
def http(rt):  # type: ignore[no-untyped-def]
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as client:
        yield client


def headers_for(path: Path) -> dict[str, str]:
    h = {"Content-Type": "application/json"}
    if path.parent.name == "github":
        h["X-GitHub-Event"] = path.name.split("__")[0]
    return h


def query_for(path: Path) -> str:
    if "commit-status" in path.name:
        return "?revision=4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"  # the docs put it in the URL path
    if "syncresult" in path.name:
        return "?app=guestbook"
    return ""


def snapshot(rt: Runtime) -> dict[str, Any]:
    """Everything a replay must not change (the per-row notification counters aside)."""
    with rt.store.engine.connect() as conn:
        alerts = conn.execute(select(s.alerts.c.id, s.alerts.c.source, s.alerts.c.fingerprint, s.alerts.c.starts_at,
                                     s.alerts.c.ends_at, s.alerts.c.status, s.alerts.c.name, s.alerts.c.incident_id)
                              .order_by(s.alerts.c.id)).all()
        incidents = conn.execute(select(s.alert_incidents.c.id, s.alert_incidents.c.status,
                                        s.alert_incidents.c.alert_count).order_by(s.alert_incidents.c.id)).all()
        deps = conn.execute(select(d.deployments).order_by(d.deployments.c.id)).all()
    return {"alerts": alerts, "incidents": incidents, "deployments": deps}


def alert_rows(rt: Runtime) -> list[dict[str, Any]]:
    with rt.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.alerts).order_by(s.alerts.c.starts_at)).mappings()]


def post(http: TestClient, route: str, path: Path, method: str = "POST") -> Any:
    return http.request(method, route + query_for(path), content=path.read_bytes(), headers=headers_for(path))


@pytest.mark.parametrize("path", files(*ALERT_DIRS), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_alert_payload_is_stored_right_and_a_replay_changes_nothing(rt, http, path) -> None:  # type: ignore[no-untyped-def]
    route = f"/hooks/{path.parent.name}"
    r = post(http, route, path)
    assert r.status_code == 202, r.text
    if path.name in IGNORED:
        assert IGNORED[path.name] in r.json()["ignored"] and r.json()["stored"] == 0
        assert alert_rows(rt) == []
        return
    parsed = ALERT_SOURCES[path.parent.name].parse(json.loads(path.read_bytes()), {}, rt.ctx.clock)
    upstream = {(a.source, a.fingerprint) for a in parsed.alerts}
    rows = alert_rows(rt)
    assert len(rows) == len(upstream) >= 1  # one alert per upstream alert
    for a in parsed.alerts:
        (row,) = [x for x in rows if x["fingerprint"] == a.fingerprint]
        assert row["status"] == a.status and row["name"] == a.name
    before = snapshot(rt)
    for _ in range(2):
        again = post(http, route, path)
        assert again.status_code == 202, again.text
    assert snapshot(rt) == before


@pytest.mark.parametrize("path", files(*CHANGE_DIRS), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_real_change_payload_is_stored_right_and_a_replay_changes_nothing(rt, http, path) -> None:  # type: ignore[no-untyped-def]
    route = f"/hooks/{path.parent.name}"
    r = post(http, route, path)
    if path.name in REJECTED:
        assert r.status_code == 422 and REJECTED[path.name] in r.json()["detail"]["error"]
        return
    assert r.status_code == 202, r.text
    if path.name in IGNORED:
        assert IGNORED[path.name] in r.json()["ignored"]
        assert snapshot(rt)["deployments"] == []
        return
    assert r.json()["stored"] == 1
    (dep,) = snapshot(rt)["deployments"]
    assert dep.id == r.json()["ids"][0]
    before = snapshot(rt)
    for _ in range(2):
        assert post(http, route, path).status_code == 202
    assert snapshot(rt) == before


def test_grafana_contact_point_set_to_put_is_accepted(rt, http) -> None:  # type: ignore[no-untyped-def]
    path = FIX / "grafana" / "unified-resolved-v9__zulip.json"
    assert post(http, "/hooks/grafana", path, method="PUT").status_code == 202
    assert post(http, "/hooks/grafana", path, method="PUT").status_code == 202  # via the generic route too
    assert len(alert_rows(rt)) == 1
