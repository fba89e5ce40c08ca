"""Harder than the happy path, built from the real fixtures: lifecycles in and out of order,
replays, unknown event types, malformed fields, signatures, DORA incidents, MLflow."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s
from tools.store import delivery as d

FIX = Path(__file__).parent / "fixtures" / "senders"


@pytest.fixture(params=["sqlite", "postgres"])
def rt(request, tmp_path):  # type: ignore[no-untyped-def]
    """Both dialects: the lifecycle anchoring reads the store (PostgreSQL with TRIOPS_TEST_DATABASE_URL)."""
    from tests.stores import open_test_store

    for store in open_test_store(request.param, tmp_path):
        # historical upstream fixtures (2015 onwards): widen the sane-time bound to replay them
        yield Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_TIME_BOUND_YEARS=30), store=store, catalog=catalog())


@pytest.fixture
def http(rt):  # type: ignore[no-untyped-def]
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as client:
        yield client


def load(source: str, name: str) -> Any:
    return json.loads((FIX / source / name).read_bytes())


def send(http: TestClient, route: str, body: Any, **headers: str) -> Any:
    return http.post(route, content=json.dumps(body), headers={"Content-Type": "application/json", **headers})


def alerts(rt: Runtime, fingerprint: str | None = None) -> list[dict[str, Any]]:
    q = select(s.alerts).order_by(s.alerts.c.starts_at)
    if fingerprint:
        q = q.where(s.alerts.c.fingerprint == fingerprint)
    with rt.store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q).mappings()]


# --- Opsgenie ------------------------------------------------------------------------------

OG_ID = "052652ac-5d1c-464a-812a-7dd18bbfba8c"


def test_opsgenie_actions_each_do_the_right_thing_to_one_alert(rt, http) -> None:  # type: ignore[no-untyped-def]
    for name, status in [("acknowledge", "firing"), ("addtags", "firing"), ("addnote", "firing"),
                         ("addteam", "firing"), ("close", "resolved"), ("unacknowledge", "resolved"),
                         ("delete", "resolved"), ("acknowledge", "resolved")]:
        r = send(http, "/hooks/opsgenie", load("opsgenie", f"{name}__zulip.json"))
        assert r.status_code == 202, r.text
        (row,) = alerts(rt, OG_ID)  # ONE alert, whatever the action
        assert row["status"] == status, name
    # Close: updatedAt is in nanoseconds (above 2**53), read exactly as an integer
    assert row["ends_at"] == pytest.approx(1420452374.669001, abs=1e-6)  # Close's updatedAt, to the µs
    incident = row["incident_id"]
    with rt.store.engine.connect() as conn:
        acks = conn.execute(select(s.alert_incident_actions).where(s.alert_incident_actions.c.incident_id == incident)).all()
    assert acks, "the Opsgenie acknowledgement acknowledges the incident"


def test_opsgenie_nanosecond_updated_at_is_exact() -> None:
    from tools.alerts.sources.base import parse_time

    t = parse_time(1420452224764002246, "alert.updatedAt")
    assert t == datetime(2015, 1, 5, 10, 3, 44, 764002, tzinfo=UTC)
    assert parse_time(1502709956288, "alert.createdAt") == datetime(2017, 8, 14, 11, 25, 56, 288000, tzinfo=UTC)


def test_opsgenie_escalate_with_only_alert_id_and_integer_priority(rt, http) -> None:  # type: ignore[no-untyped-def]
    create = load("opsgenie", "create__zulip.json")
    assert isinstance(create["alert"]["priority"], int)
    assert send(http, "/hooks/opsgenie", create).status_code == 202
    (row,) = alerts(rt)
    assert row["severity"] == "error"  # priority 3 = P3
    escalate = load("opsgenie", "escalate__zulip.json")
    escalate["alert"]["alertId"] = create["alert"]["alertId"]
    r = send(http, "/hooks/opsgenie", escalate)
    assert r.status_code == 202 and r.json()["ignored"].startswith("Escalate")
    (after,) = alerts(rt)
    assert (after["id"], after["status"], after["annotations"]["action"]) == (row["id"], "firing", "Create")


def test_opsgenie_create_replayed_after_close_does_not_reopen(rt, http) -> None:  # type: ignore[no-untyped-def]
    create = load("opsgenie", "create__zulip.json")
    close = copy.deepcopy(create)
    close["action"] = "Close"
    close["alert"]["updatedAt"] = create["alert"]["createdAt"] * 10**6 + 60 * 10**9
    for body in (create, close, create, create):
        assert send(http, "/hooks/opsgenie", body).status_code == 202
    (row,) = alerts(rt)
    assert row["status"] == "resolved"


# --- PagerDuty -----------------------------------------------------------------------------


def test_pagerduty_one_incident_lifecycle_is_one_alert_and_notes_are_not_alerts(rt, http) -> None:  # type: ignore[no-untyped-def]
    seq = ["escalated", "delegated", "priority_updated", "status_update_published", "annotated",
           "responder.added", "service_updated"]
    for name in seq:
        r = send(http, "/hooks/pagerduty", load("pagerduty", f"v3-incident.{name}__zulip.json"))
        assert r.status_code == 202, r.text
        if name in {"status_update_published", "annotated", "responder.added"}:
            assert r.json()["ignored"] == f"incident.{name}" and r.json()["stored"] == 0
    rows = alerts(rt)
    assert [(a["fingerprint"], a["status"]) for a in rows] == [("Q3B15VLMF3ASBD", "firing")]
    assert all(a["fingerprint"] == "Q3B15VLMF3ASBD" for a in rows)  # never the note's id


def _pd(event_type: str, occurred: str, *, created: bool) -> dict[str, Any]:
    body = load("pagerduty", "v3-incident.triggered__zulip.json")
    body["event"]["event_type"] = event_type
    body["event"]["occurred_at"] = occurred
    body["event"]["id"] = f"evt-{event_type}-{occurred}"
    body["event"]["data"]["status"] = event_type.split(".")[1]
    if created:
        body["event"]["data"]["created_at"] = "2021-06-04T13:35:29Z"
    return body


@pytest.mark.parametrize("created", [False, True], ids=["2021-shape-no-created_at", "new-shape"])
def test_pagerduty_out_of_order_and_replayed_events_apply_to_the_same_alert(rt, http, created) -> None:  # type: ignore[no-untyped-def]
    trig = _pd("incident.triggered", "2021-06-04T13:35:29.781Z", created=created)
    ack = _pd("incident.acknowledged", "2021-06-04T13:40:00.000Z", created=created)
    res = _pd("incident.resolved", "2021-06-04T13:50:00.000Z", created=created)
    for body in (trig, res, ack, trig, res):  # the ack arrives late, the trigger is retried
        assert send(http, "/hooks/pagerduty", body).status_code == 202
    (row,) = alerts(rt)
    assert row["status"] == "resolved"
    assert row["ends_at"] == datetime(2021, 6, 4, 13, 50, tzinfo=UTC).timestamp()  # the event's occurred_at
    reopen = _pd("incident.reopened", "2021-06-04T14:30:00.000Z", created=created)
    for _ in range(2):
        assert send(http, "/hooks/pagerduty", reopen).status_code == 202
    rows = alerts(rt)
    assert [a["status"] for a in rows] == ["resolved", "firing"]  # a reopen is a new occurrence, once


def test_pagerduty_unknown_event_type_is_ignored_and_never_an_alert(rt, http) -> None:  # type: ignore[no-untyped-def]
    body = _pd("incident.custom_field_values.updated", "2021-06-04T13:35:29.781Z", created=False)
    r = send(http, "/hooks/pagerduty", body)
    assert r.status_code == 202 and r.json()["ignored"] == "incident.custom_field_values.updated"
    assert alerts(rt) == []


def test_pagerduty_incidents_count_for_dora_when_asked(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.dora_incidents_from = "pagerduty"
    for body in (_pd("incident.triggered", "2021-06-04T13:35:29.781Z", created=False),
                 _pd("incident.resolved", "2021-06-04T13:50:00.000Z", created=False),
                 _pd("incident.acknowledged", "2021-06-04T13:40:00.000Z", created=False)):
        assert send(http, "/hooks/pagerduty", body).status_code == 202
    with rt.store.engine.connect() as conn:
        (inc,) = conn.execute(select(d.incidents)).mappings().all()
    assert inc["service"] == "pig208" and inc["resolved_at"] == datetime(2021, 6, 4, 13, 50, tzinfo=UTC).timestamp()


def test_pagerduty_signature_replaces_the_shared_token(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.webhook_token = SecretStr("shared")
    rt.settings.pagerduty_webhook_secret = SecretStr("pd-secret")
    raw = (FIX / "pagerduty" / "v3-incident.triggered__zulip.json").read_bytes()
    sig = hmac.new(b"pd-secret", raw, hashlib.sha256).hexdigest()
    ok = http.post("/hooks/pagerduty", content=raw, headers={"X-PagerDuty-Signature": f"v1=old,v1={sig}"})
    assert ok.status_code == 202, ok.text
    bad = http.post("/hooks/pagerduty", content=raw, headers={"Authorization": "Bearer shared"})
    assert bad.status_code == 401  # a signing source must be signed
    unsigned = http.post("/hooks/alertmanager", content=(FIX / "alertmanager" / "firing-2alerts__zulip.json").read_bytes())
    assert unsigned.status_code == 401  # the others still need the token


# --- Grafana and Alertmanager --------------------------------------------------------------


def test_grafana_legacy_alerting_then_ok_resolves_the_same_alert(rt, http) -> None:  # type: ignore[no-untyped-def]
    firing = load("grafana", "legacy-alerting-test-notification__grafana-oncall-public-api-tests.json")
    ok = {**firing, "state": "ok", "title": "[OK] " + firing.get("ruleName", "")}
    for body in (firing, firing, ok, ok):
        assert send(http, "/hooks/grafana", body).status_code == 202
    (row,) = alerts(rt)
    assert row["status"] == "resolved"


def test_grafana_hmac_signature_when_configured(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.webhook_token = SecretStr("shared")
    rt.settings.grafana_webhook_secret = SecretStr("g-secret")
    raw = (FIX / "grafana" / "unified-resolved-v9__zulip.json").read_bytes()
    ts = str(int(time.time()))
    sig = hmac.new(b"g-secret", ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    r = http.post("/hooks/grafana", content=raw,
                  headers={"X-Grafana-Alerting-Signature": sig, "X-Grafana-Alerting-Timestamp": ts})
    assert r.status_code == 202, r.text
    assert http.post("/hooks/grafana", content=raw, headers={"X-Grafana-Alerting-Signature": "00"}).status_code == 401


def test_alertmanager_truncated_alerts_are_kept_on_the_alert(rt, http) -> None:  # type: ignore[no-untyped-def]
    body = load("alertmanager", "firing-2alerts-truncated0__grafana-oncall-demo.json")
    body["truncatedAlerts"] = 2
    assert send(http, "/hooks/alertmanager", body).status_code == 202
    assert {a["annotations"]["truncated_alerts"] for a in alerts(rt)} == {"Alertmanager held back 2 more alerts"}
    from bot.render.alerts import incident_card
    from tools.alerts.summary import IncidentSummary

    with rt.store.engine.connect() as conn:
        (summary,) = conn.execute(select(s.alert_incidents.c.summary)).scalars().all()
    card = incident_card(IncidentSummary.model_validate(summary))
    assert "Alertmanager held back 2 more alerts" in json.dumps([b.to_dict() for b in card])


@pytest.mark.parametrize(
    "route,body,field",
    [
        ("/hooks/opsgenie", {"action": "Create", "alert": {"alertId": "x", "message": "m", "createdAt": "yesterday"}},
         "alert.createdAt"),
        ("/hooks/opsgenie", {"action": "Create", "alert": {"alertId": "x", "message": "m", "createdAt": 1, "priority": [1]}},
         "alert.priority"),
        ("/hooks/pagerduty", {"event": {"event_type": "incident.triggered", "data": {"id": "P1", "type": "incident"}}},
         "event.occurred_at"),
        ("/hooks/grafana", {"ruleName": "r", "ruleId": 1, "state": "exploded"}, "state"),
        ("/hooks/alertmanager", {"alerts": [], "groupKey": "g", "truncatedAlerts": "two"}, "truncatedAlerts"),
        ("/hooks/argocd", {"app": "guestbook", "sync_status": "Synced", "health_status": "Healthy"}, "revision"),
        ("/hooks/cdevents", {"context": {"type": "dev.cdevents.service.deployed.0.1.1", "id": "1", "timestamp": "soon"},
                             "subject": {"id": "svc"}}, "context.timestamp"),
        ("/hooks/gitlab", {"object_kind": "deployment", "status": "success", "deployment_id": 1,
                           "project": {"id": 1, "name": "p"}, "status_changed_at": "28/04/2021"}, "status_changed_at"),
        ("/hooks/models", {"entity": "model_version", "action": "created", "data": {"version": "1"}}, "data.name"),
    ],
)
def test_malformed_payloads_get_a_4xx_naming_the_field(rt, http, route, body, field) -> None:  # type: ignore[no-untyped-def]
    r = send(http, route, body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]["error"]
    assert alerts(rt) == []


@pytest.mark.parametrize("route,body", [
    ("/hooks/cdevents", {"context": {"type": "dev.cdevents.pipelinerun.started.0.1.0", "id": "1"}, "subject": {}}),
    ("/hooks/gitlab", {"object_kind": "push"}),
    ("/hooks/opsgenie", {"action": "SomethingNew", "alert": {"alertId": "x"}}),
])
def test_unknown_event_types_are_ignored(rt, http, route, body) -> None:  # type: ignore[no-untyped-def]
    r = send(http, route, body)
    assert r.status_code == 202 and r.json()["stored"] == 0 and r.json()["ignored"]


def test_unknown_source_is_a_404_naming_the_known_ones(http) -> None:  # type: ignore[no-untyped-def]
    r = send(http, "/hooks/nagios", {})
    assert r.status_code == 404 and "alertmanager" in r.json()["detail"]["error"]


# --- MLflow --------------------------------------------------------------------------------


def mlflow(entity: str, action: str, data: dict[str, Any], at: str = "2026-11-20T10:00:00.123456+00:00") -> bytes:
    """MLflow's envelope around the published `data` examples, serialised as MLflow does
    (`json.dumps` defaults: spaces after separators)."""
    return json.dumps({"entity": entity, "action": action, "timestamp": at, "data": data}).encode()


def signed(secret: str, raw: bytes) -> dict[str, str]:
    delivery, ts = "6b9e3c1a-7f0e-4a57-9a8e-2d1d1c0f0b11", str(int(time.time()))
    mac = hmac.new(secret.encode(), f"{delivery}.{ts}.".encode() + raw, hashlib.sha256).digest()
    return {"X-MLflow-Signature": "v1," + base64.b64encode(mac).decode(), "X-MLflow-Delivery-Id": delivery,
            "X-MLflow-Timestamp": ts, "Content-Type": "application/json"}


def test_mlflow_registry_webhooks_update_the_registry_and_alias_moves_are_changes(rt, http) -> None:  # type: ignore[no-untyped-def]
    from tools.store.models import alias_history, aliases, versions

    rt.settings.webhook_token = SecretStr("shared")
    rt.settings.mlflow_webhook_secret = SecretStr("ml-secret")
    model = load("mlflow", "data-only-registered_model.created__mlflow-types-example.json")
    v1 = load("mlflow", "data-only-model_version.created__mlflow-types-example.json")
    alias = load("mlflow", "data-only-model_version_alias.created__mlflow-types-example.json")
    tag = load("mlflow", "data-only-model_version_tag.set__mlflow-types-example.json")
    gone = load("mlflow", "data-only-model_version_alias.deleted__mlflow-types-example.json")

    def post(raw: bytes) -> Any:
        r = http.post("/hooks/models", content=raw, headers=signed("ml-secret", raw))
        assert r.status_code == 202, r.text
        return r.json()

    post(mlflow("registered_model", "created", model))
    for _ in range(2):
        post(mlflow("model_version", "created", v1))
    post(mlflow("model_version", "created", {**v1, "version": "2"}))
    assert post(mlflow("model_version_tag", "set", tag))["ignored"] == "model_version_tag.set"
    first = post(mlflow("model_version_alias", "created", alias))
    assert [c["kind"] for c in first["changes"]] == ["model_promotion"]
    assert post(mlflow("model_version_alias", "created", alias))["stored"] == 0  # a retry moves nothing
    up = post(mlflow("model_version_alias", "created", {**alias, "version": "2"}, "2026-11-21T10:00:00+00:00"))
    back = post(mlflow("model_version_alias", "created", alias, "2026-11-22T10:00:00+00:00"))
    assert up["changes"][0]["kind"] == "model_promotion" and back["changes"][0]["kind"] == "model_rollback"
    assert "2 -> 1" in back["changes"][0]["summary"]
    with rt.store.engine.connect() as conn:
        assert [v["version"] for v in versions(conn, "example_model")] == ["2", "1"] or \
            sorted(v["version"] for v in versions(conn, "example_model")) == ["1", "2"]
        assert aliases(conn, "example_model")["example_alias"]["version"] == "1"
        assert len(alias_history(conn, "example_model", "example_alias")) == 3
    from tools.mlops.ingest import model_alias_changes

    with rt.store.engine.connect() as conn:  # the provider probable cause can plug in
        moves = model_alias_changes(conn, ["example_model"], 0, 4e9)
    assert [(c.kind, c.summary) for c in moves] == [
        ("model_promotion", "model example_model: alias example_alias new -> 1"),
        ("model_promotion", "model example_model: alias example_alias 1 -> 2"),
        ("model_rollback", "model example_model: alias example_alias 2 -> 1"),
    ]
    post(mlflow("model_version_alias", "deleted", gone))
    with rt.store.engine.connect() as conn:
        assert aliases(conn, "example_model") == {}
    raw = mlflow("model_version", "created", v1)
    bad = http.post("/hooks/models", content=raw, headers={**signed("wrong", raw)})
    assert bad.status_code == 401
    plain = http.post("/hooks/models", content=json.dumps({"name": "m", "version": "1"}),
                      headers={"Authorization": "Bearer shared"})
    assert plain.status_code == 202  # triops's own model JSON still uses the shared token


def test_a_file_of_real_payloads_uses_the_same_sources_and_lifecycle(rt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.alerts_runtime import get_pipeline
    from tools.alerts.files import ingest_alert_file, read_alert_file

    names = [("opsgenie", "acknowledge__zulip.json"), ("opsgenie", "addnote__zulip.json"),
             ("opsgenie", "close__zulip.json"), ("opsgenie", "unacknowledge__zulip.json"),
             ("pagerduty", "v3-incident.annotated__zulip.json"), ("alertmanager", "firing-2alerts__zulip.json"),
             ("alertmanager", "resolved-single__zulip.json")]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(load(src, n)) for src, n in names) + "\n")
    parsed = read_alert_file(path)
    assert parsed.errors == [] and [e.line for e in parsed.ignored] == [2, 5]
    for _ in range(2):  # a replayed file changes nothing
        ingest_alert_file(get_pipeline(rt), parsed, rt.settings)
    rows = alerts(rt)
    assert sorted((a["source"], a["status"]) for a in rows) == [
        ("alertmanager", "firing"), ("alertmanager", "resolved"), ("opsgenie", "resolved")]


def test_gitlab_token_and_cdevents_binary_mode(rt, http) -> None:  # type: ignore[no-untyped-def]
    rt.settings.webhook_token = SecretStr("shared")
    rt.settings.gitlab_webhook_token = SecretStr("gl-token")
    raw = (FIX / "gitlab" / "deployment-success__gitlab-docs-webhook-events.json").read_bytes()
    ok = http.post("/hooks/gitlab", content=raw, headers={"X-Gitlab-Token": "gl-token", "X-Gitlab-Event": "Deployment Hook"})
    assert ok.status_code == 202 and ok.json()["ids"] == ["gitlab-30-15"]
    assert http.post("/hooks/gitlab", content=raw, headers={"X-Gitlab-Token": "nope"}).status_code == 401
    structured = load("cdevents", "service.rolledback__cdevents-spec-conformance-v0.5.1.json")
    ctx = structured["context"]
    binary = http.post("/hooks/cdevents?environment=production", content=json.dumps({"subject": structured["subject"]}),
                       headers={"Authorization": "Bearer shared", "ce-specversion": "1.0", "ce-type": ctx["type"],
                                "ce-id": "binary-1", "ce-source": ctx["source"], "ce-time": ctx["timestamp"]})
    assert binary.status_code == 202, binary.text
    with rt.store.engine.connect() as conn:
        dep = conn.execute(select(d.deployments).where(d.deployments.c.id == "cdevents-binary-1")).mappings().one()
    assert dep["kind"] == "rollback" and dep["environment"] == "production" and dep["service"] == "mySubject123"
