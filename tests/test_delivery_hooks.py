"""Webhooks and file ingest for delivery events: validation, idempotency, no partial writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tools.catalog import ServiceCatalog
from tools.delivery.ingest import ingest_file
from tools.settings import Settings
from tools.store.delivery import commit_leads, deployments, incidents

DEP = {
    "id": "d1",
    "service": "checkout",
    "environment": "prod",
    "started_at": "2026-11-01T10:00:00+02:00",
    "finished_at": "2026-11-01T10:10:00+02:00",
    "status": "success",
    "kind": "normal",
    "commits": [{"sha": "abc123", "committed_at": "2026-11-01T06:00:00Z"}],
    "team": "team-payments",
    "version": "v1",
}


@pytest.fixture
def rt(tmp_path):
    return Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=ServiceCatalog())


@pytest.fixture
def http(rt):
    with TestClient(create_app(Router(rt))) as client:
        yield client


def _count(rt, table) -> int:
    with rt.store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_deployment_hook_stores_utc_once_and_an_update_wins(rt, http):
    assert http.post("/hooks/deployments", json=DEP).status_code == 202
    assert http.post("/hooks/deployments", json={**DEP, "version": "v2"}).status_code == 202
    with rt.store.engine.connect() as conn:
        row = conn.execute(select(deployments)).mappings().one()
        lead = conn.execute(select(commit_leads)).mappings().one()
    assert row["version"] == "v2" and row["environment"] == "production"
    assert row["finished_at"] == datetime(2026, 11, 1, 8, 10, tzinfo=UTC).timestamp()
    assert lead["deployed_at"] - lead["committed_at"] == 2 * 3600 + 600


def test_malformed_batch_names_the_field_and_stores_nothing(rt, http):
    bad = {**DEP, "id": "d2", "finished_at": "yesterday"}
    resp = http.post("/hooks/deployments", json=[DEP, bad])
    assert resp.status_code == 422
    assert "event 1" in resp.json()["detail"]["error"]
    assert "finished_at" in resp.json()["detail"]["error"]
    assert _count(rt, deployments) == 0


def test_invalid_json_is_a_400(http):
    resp = http.post("/hooks/deployments", content=b"{nope", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["detail"]["error"]


def test_incident_hook_and_inconsistent_times(rt, http):
    inc = {"id": "i1", "service": "checkout", "opened_at": "2026-11-01T09:00:00Z", "caused_by_deployment": "d1"}
    assert http.post("/hooks/incidents", json=inc).status_code == 202
    resp = http.post("/hooks/incidents", json={**inc, "resolved_at": "2026-11-01T08:00:00Z"})
    assert resp.status_code == 422 and "resolved_at is before opened_at" in resp.text
    assert _count(rt, incidents) == 1


def test_webhook_token_is_required_when_configured(tmp_path):
    s = Settings(TRIOPS_HOME=tmp_path, TRIOPS_WEBHOOK_TOKEN="s3cret-token")
    rt = Runtime.build(s, catalog=ServiceCatalog())
    with TestClient(create_app(Router(rt))) as client:
        assert client.post("/hooks/deployments", json=DEP).status_code == 401
        ok = client.post("/hooks/deployments", json=DEP, headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 202


def test_github_deployment_status(rt, http):
    body = {
        "action": "created",
        "deployment_status": {"state": "success", "environment": "production", "created_at": "2026-11-02T12:00:00Z", "updated_at": "2026-11-02T12:05:00Z"},
        "deployment": {"id": 42, "sha": "deadbeef", "ref": "v3.1", "environment": "production", "created_at": "2026-11-02T11:50:00Z", "payload": {"service": "search"}},
        "repository": {"name": "search-repo"},
    }
    pending = {**body, "deployment_status": {**body["deployment_status"], "state": "in_progress"}}
    assert http.post("/hooks/github", json=pending, headers={"X-GitHub-Event": "deployment_status"}).json()["stored"] == 0
    resp = http.post("/hooks/github", json=body, headers={"X-GitHub-Event": "deployment_status"})
    assert resp.json() == {"stored": 1, "ids": ["github-42"]}
    with rt.store.engine.connect() as conn:
        row = conn.execute(select(deployments)).mappings().one()
    assert row["service"] == "search" and row["version"] == "v3.1" and row["status"] == "success"


def test_file_ingest_reports_bad_lines_and_loads_the_rest(rt, tmp_path):
    path = tmp_path / "deps.jsonl"
    lines = [json.dumps(DEP), "{not json", json.dumps({**DEP, "id": "d3", "status": "maybe"}), json.dumps({**DEP, "id": "d4"})]
    path.write_text("\n".join(lines) + "\n")
    report = ingest_file(rt.store, path, "deployments")
    assert report.loaded == 2
    assert [(e.line, e.error.split(":")[0]) for e in report.errors] == [(2, "invalid JSON"), (3, "status")]
    assert _count(rt, deployments) == 2


def test_csv_ingest_with_commits_cell(rt, tmp_path):
    path = tmp_path / "deps.csv"
    path.write_text(
        "id,service,environment,finished_at,status,kind,remediates,commits,team\n"
        "c1,inventory,production,2026-11-03T10:00:00Z,success,normal,,a1@2026-11-03T08:00:00Z;a2@2026-11-03T09:00:00Z,team-x\n"
        "c2,inventory,production,2026-11-03T11:00:00Z,success,rollback,c1,,team-x\n"
    )
    report = ingest_file(rt.store, path, "deployments")
    assert report.loaded == 2 and report.errors == []
    assert _count(rt, commit_leads) == 2


def test_one_pretty_printed_object_is_one_event(rt, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps(DEP, indent=2))
    report = ingest_file(rt.store, path, "deployments")
    assert (report.loaded, report.errors) == (1, [])
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "id": "x",\n  "service": \n}')
    report = ingest_file(rt.store, bad, "deployments")
    assert report.loaded == 0 and report.errors[0].line == 4 and "invalid JSON" in report.errors[0].error
