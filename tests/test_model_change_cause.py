"""Model changes are changes: a promotion (an MLflow alias moved) shortly before an alert
storm on the service the model serves is named as the incident's suspect change, through the
real webhooks, the real pipeline and the real store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests.test_senders_lifecycle import load, mlflow, signed
from tools.persistence import open_url
from tools.scenario.topology import catalog
from tools.settings import Settings

PROMOTED = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)


def _alert(name: str, at: datetime) -> dict[str, Any]:
    return {"name": name, "service": "search", "severity": "critical", "starts_at": at.isoformat(),
            "message": f"{name} on search"}


def test_a_storm_after_a_promotion_names_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = open_url(f"sqlite:///{tmp_path / 'm.db'}")
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), store=store, catalog=catalog())
    rt.settings.webhook_token = SecretStr("shared")
    rt.settings.mlflow_webhook_secret = SecretStr("ml-secret")
    token = {"Authorization": "Bearer shared", "Content-Type": "application/json"}
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as http:
        # the registry knows the model serves `search` (triops's own model format)
        r = http.post("/hooks/models", headers=token, content=json.dumps(
            [{"name": "example_model", "service": "search", "versions": [{"version": "1"}, {"version": "2"}]}]))
        assert r.status_code == 202, r.text
        alias = load("mlflow", "data-only-model_version_alias.created__mlflow-types-example.json")
        raw = mlflow("model_version_alias", "created", {**alias, "version": "2"}, PROMOTED.isoformat())
        r = http.post("/hooks/models", content=raw, headers=signed("ml-secret", raw))
        assert r.status_code == 202 and r.json()["changes"][0]["kind"] == "model_promotion", r.text
        first = PROMOTED + timedelta(minutes=6)
        storm = [_alert("SearchLatencyHigh", first), _alert("SearchErrorsHigh", first + timedelta(seconds=40))]
        r = http.post("/hooks/alerts", headers=token, content=json.dumps(storm))
        assert r.status_code == 202, r.text
        (incident_id,) = set(r.json()["incidents"])
    detail = rt.call("incident_get", {"id": incident_id})
    change = detail.incident.suspect_change  # type: ignore[attr-defined]
    assert change is not None and change.kind == "model_promotion", change
    assert "example_model" in change.summary and "-> 2" in change.summary
    assert change.at == PROMOTED
