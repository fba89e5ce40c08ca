"""Grafana alerting: unified (Grafana >= 8, Alertmanager's shape plus orgId/values) and legacy
dashboard alerting (Grafana <= 10: `ruleId`, `ruleName`, `state`, `evalMatches`).

Identity: unified `alerts[].fingerprint`; legacy `ruleId` (+ orgId, dashboardId, panelId),
as Grafana OnCall groups them. Legacy bodies carry no time: the receive time is used, and
`alerting` opens, `ok` resolves; `no_data`/`pending` fire as warnings; `paused` resolves
(nobody is evaluating the rule any more). Optional HMAC (`X-Grafana-Alerting-Signature`:
hex HMAC-SHA256 of `[<timestamp>:]body`) when TRIOPS_GRAFANA_WEBHOOK_SECRET is set.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tools.alerts.models import Alert, AlertLinks, normalise_severity
from tools.alerts.sources.alertmanager import parse_alertmanager
from tools.alerts.sources.base import Parsed, build, require_dict, str_map
from tools.errors import PayloadError

LEGACY_STATES = {"alerting": "firing", "no_data": "firing", "pending": "firing", "ok": "resolved", "paused": "resolved"}
SIGNATURE = "x-grafana-alerting-signature"
TIMESTAMP = "x-grafana-alerting-timestamp"


def parse_grafana(body: Any) -> list[Alert]:
    """Grafana's unified alerting webhook: Alertmanager's shape plus orgId, values, URLs."""
    return parse_alertmanager(body, source="grafana")


def is_legacy(body: Any) -> bool:
    return isinstance(body, dict) and "alerts" not in body and ("ruleId" in body or "ruleName" in body) and "state" in body


def parse_legacy(body: dict[str, Any], now: datetime) -> Parsed:
    state = body.get("state")
    if not isinstance(state, str) or state.lower() not in LEGACY_STATES:
        raise PayloadError(f"state: expected one of {', '.join(LEGACY_STATES)} (Grafana legacy alerting), got {state!r}")
    state = state.lower()
    name = body.get("ruleName") or body.get("title")
    if not isinstance(name, str) or not name.strip():
        raise PayloadError("ruleName: missing")
    tags = str_map(body.get("tags") or {}, "tags")
    rule_key = "/".join(str(body.get(k, "")) for k in ("orgId", "dashboardId", "panelId", "ruleId"))
    matches = body.get("evalMatches")
    if matches is not None and not isinstance(matches, list):
        raise PayloadError("evalMatches: expected a list")
    labels = {**tags, "alertname": name, "grafana_rule": rule_key}
    annotations = {"summary": str(body.get("title") or name), "grafana_state": state}
    if body.get("message"):
        annotations["description"] = str(body["message"])
    if matches:
        annotations["values"] = ", ".join(
            f"{m.get('metric')}={m.get('value')}" for m in matches if isinstance(m, dict))[:1000]
    status = LEGACY_STATES[state]
    severity = "warning" if state in {"no_data", "pending"} else normalise_severity(tags.get("severity"))
    alert = build(
        source="grafana",
        fingerprint=f"legacy:{rule_key}",
        name=name[:300],
        service=tags.get("service") or None,
        severity=severity,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=now,
        ends_at=now if status == "resolved" else None,
        links=AlertLinks(generator=body.get("ruleUrl") or None),
        raw=body,
    )
    return Parsed(alerts=[alert], opening=[status == "firing"], anchored=True)  # no start time in the body


class GrafanaSource:
    name = "grafana"
    signature_header: str | None = "X-Grafana-Alerting-Signature"

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed:
        body = require_dict(body, "Grafana")
        if is_legacy(body):
            return parse_legacy(body, now())
        if "alerts" not in body and "state" in body:
            raise PayloadError("alerts: missing; this looks like Grafana legacy alerting but has no ruleName/ruleId")
        return Parsed.of(parse_grafana(body))

    def secret(self, settings: Any) -> str | None:
        s = getattr(settings, "grafana_webhook_secret", None)
        return s.get_secret_value() if s is not None else None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        given = headers.get(SIGNATURE) or ""
        ts = headers.get(TIMESTAMP)
        message = (ts.encode() + b":" + raw) if ts else raw
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        return bool(given) and hmac.compare_digest(given.strip().lower(), expected)

    def detect(self, body: Any) -> bool:
        if is_legacy(body):
            return True
        return isinstance(body, dict) and isinstance(body.get("alerts"), list) and "orgId" in body


SOURCE = GrafanaSource()
