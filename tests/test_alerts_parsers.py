"""Each source's real payload shape -> the normalised Alert; malformed -> a clear reason."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.alerts.models import label_fingerprint, normalise_severity
from tools.alerts.parsers import (
    PayloadError,
    parse_alertmanager,
    parse_any,
    parse_generic,
    parse_grafana,
    parse_opsgenie,
    parse_pagerduty,
    verify_pagerduty_signature,
)

FIX = Path(__file__).parent / "fixtures" / "alerts"


def load(name: str) -> dict:
    return json.loads((FIX / name).read_text())


def test_alertmanager_v4_payload() -> None:
    body = load("alertmanager.json")
    firing, resolved = parse_alertmanager(body)
    assert firing.source == "alertmanager"
    assert firing.name == "KubePodCrashLooping"
    assert firing.fingerprint == "c6a1e4f9d2b7a380"
    assert firing.service == "payments"
    assert firing.severity == "warning"
    assert firing.status == "firing"
    assert firing.starts_at == datetime(2026, 11, 20, 10, 2, 31, 123456, tzinfo=UTC)
    assert firing.ends_at is None  # Go's zero time means "still firing"
    assert firing.labels["cluster"] == "prod-eu"
    assert firing.links.runbook.endswith("/kubepodcrashlooping")
    assert firing.links.generator.startswith("http://prometheus.example:9090/graph")
    assert firing.message == "Pod is crash looping."
    assert firing.raw["_group"]["groupKey"].startswith("{}/")
    # the second alert has no service label: the deployment label names the workload
    assert resolved.status == "resolved" and resolved.service == "checkout"
    assert resolved.ends_at == datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
    # the same occurrence always gets the same id
    assert parse_alertmanager(body)[0].id == firing.id


def test_grafana_payload_keeps_urls_and_values() -> None:
    (a,) = parse_grafana(load("grafana.json"))
    assert a.source == "grafana"
    assert a.name == "High checkout latency"
    assert a.severity == "critical"
    assert a.service == "checkout"
    assert a.links.dashboard == "https://grafana.example/d/checkout?orgId=1"
    assert a.links.silence.startswith("https://grafana.example/alerting/silence/new")
    assert a.raw["values"] == {"B": 2.41, "C": 1}
    assert a.raw["_group"]["orgId"] == 1


def test_pagerduty_v3_triggered_and_resolved() -> None:
    body = load("pagerduty.json")
    (a,) = parse_pagerduty(body)
    assert (a.source, a.fingerprint, a.service, a.severity, a.status) == (
        "pagerduty", "PGR0VU2", "payments", "critical", "firing",
    )
    assert a.name == "Payments API error rate above 5%"
    assert a.starts_at == datetime(2026, 11, 20, 10, 4, 10, tzinfo=UTC)
    assert a.links.generator == "https://acme.pagerduty.com/incidents/PGR0VU2"
    body["event"]["event_type"] = "incident.resolved"
    body["event"]["occurred_at"] = "2026-11-20T10:30:00Z"
    (r,) = parse_pagerduty(body)
    assert r.status == "resolved" and r.id == a.id  # same occurrence: it closes the row
    assert r.ends_at == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    assert parse_pagerduty({"event": {"event_type": "pagey.ping"}}) == []


def test_pagerduty_signature_accepts_any_of_several() -> None:
    body = b'{"event": {}}'
    good = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_pagerduty_signature("s3cret", body, f"v1={good}")
    assert verify_pagerduty_signature("s3cret", body, f"v1={'0' * 64}, v1={good}")
    assert not verify_pagerduty_signature("s3cret", body, f"v1={'0' * 64}")
    assert not verify_pagerduty_signature("other", body, f"v1={good}")
    assert not verify_pagerduty_signature("s3cret", body, None)


def test_opsgenie_create_and_close() -> None:
    body = load("opsgenie.json")
    (a,) = parse_opsgenie(body)
    # alertId names the alert in every action (Escalate carries nothing else); the alias is kept
    assert a.fingerprint == body["alert"]["alertId"]
    assert a.labels["opsgenie_alias"] == "inventory-pool-exhausted"
    assert a.service == "inventory"
    assert a.severity == "critical"  # P2
    assert a.labels["cluster"] == "prod-eu" and a.labels["tag_db"] == "true"
    assert a.starts_at == datetime.fromtimestamp(1763633040, UTC)
    body["action"] = "Close"
    (c,) = parse_opsgenie(body)
    assert c.status == "resolved" and c.id == a.id
    assert c.ends_at == datetime.fromtimestamp(1763633100, UTC)


def test_generic_json_documented_shape() -> None:
    (a,) = parse_generic(
        {"name": "DiskFull", "service": "postgres-main", "severity": "P1", "message": "disk 97% full",
         "labels": {"host": "db-1"}, "starts_at": 1763632800, "team_owner": "platform"}
    )
    assert a.source == "generic" and a.severity == "critical" and a.message == "disk 97% full"
    assert a.starts_at == datetime.fromtimestamp(1763632800, UTC)
    assert a.raw == {"team_owner": "platform"}  # unknown fields kept, not dropped
    assert a.fingerprint == label_fingerprint({"host": "db-1", "alertname": "DiskFull", "service": "postgres-main"})
    many = parse_generic({"alerts": [{"name": "A", "starts_at": "2026-11-20T10:00:00Z"}, {"name": "B", "starts_at": 0}]})
    assert [x.name for x in many] == ["A", "B"]


@pytest.mark.parametrize(
    ("parser", "body", "reason"),
    [
        (parse_alertmanager, {"version": "4"}, "alerts: missing"),
        (parse_alertmanager, {"alerts": [{"labels": {}, "startsAt": "2026-11-20T10:00:00Z"}]}, "alerts[0].labels.alertname: missing"),
        (parse_alertmanager, {"alerts": [{"labels": {"alertname": "X"}, "startsAt": "yesterday"}]}, "alerts[0].startsAt: not an RFC 3339 time"),
        (parse_alertmanager, {"alerts": [{"labels": {"alertname": "X"}, "startsAt": "2026-11-20T10:00:00Z", "status": "maybe"}]}, "status: expected firing or resolved"),
        (parse_alertmanager, [1, 2], "payload must be a JSON object"),
        (parse_pagerduty, {"messages": []}, "messages: expected a non-empty list"),
        (parse_pagerduty, {"event": {"event_type": "incident.triggered", "data": {}}}, "event.data.id: missing"),
        (parse_opsgenie, {"alert": {"message": "x"}}, "action: missing"),
        (parse_opsgenie, {"action": "Create", "alert": {"alias": "a", "createdAt": 1}}, "alert.message: missing"),
        (parse_generic, {"service": "x"}, "name: missing"),
        (parse_generic, [{"name": "ok"}, "nope"], "alert 1: not a JSON object"),
    ],
)
def test_malformed_payloads_give_a_reason(parser, body, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PayloadError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parser(body)


def test_parse_any_recognises_shapes() -> None:
    assert parse_any(load("alertmanager.json"))[0].source == "alertmanager"
    assert parse_any(load("grafana.json"))[0].source == "grafana"
    assert parse_any(load("pagerduty.json"))[0].source == "pagerduty"
    assert parse_any(load("opsgenie.json"))[0].source == "opsgenie"
    assert parse_any({"name": "X", "starts_at": 0})[0].source == "generic"


def test_severity_aliases() -> None:
    assert [normalise_severity(x) for x in ("P1", "high", "Major", "warn", "P5", None, "weird")] == [
        "critical", "critical", "error", "warning", "info", "warning", "warning",
    ]
