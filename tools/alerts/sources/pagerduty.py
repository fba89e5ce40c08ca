"""PagerDuty webhooks v3 (and the deprecated v2/v1 `messages[]` envelopes).

Identity: the incident id — `event.data.id` for incident data, `event.data.incident.id`
for notes, status updates and responders — never `created_at` (older payloads lack it).
Only incident lifecycle events change an alert: triggered/reopened open it,
acknowledged/resolved and the others update it at `occurred_at`. Notes
(`incident.annotated`), status updates, responder events and service events are not alerts:
202 "ignored". Signature: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]` (HMAC-SHA256 of the
raw body, one per active secret) when TRIOPS_PAGERDUTY_WEBHOOK_SECRET is set.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tools.alerts.models import AlertLinks, normalise_severity
from tools.alerts.sources.base import ACKED_BY, Parsed, build, parse_time, require_dict
from tools.errors import PayloadError

LIFECYCLE = {
    "incident.triggered": ("firing", True),
    "incident.reopened": ("firing", True),
    "incident.acknowledged": ("firing", False),
    "incident.unacknowledged": ("firing", False),
    "incident.escalated": ("firing", False),
    "incident.priority_updated": ("firing", False),
    "incident.delegated": ("firing", False),
    "incident.reassigned": ("firing", False),
    "incident.service_updated": ("firing", False),
    "incident.resolved": ("resolved", False),
}
# v1/v2 spell them incident.trigger, incident.acknowledge, ...
_OLD = {"trigger": "triggered", "acknowledge": "acknowledged", "unacknowledge": "unacknowledged",
        "resolve": "resolved", "assign": "reassigned", "escalate": "escalated", "delegate": "delegated"}


def verify_pagerduty_signature(secret: str, body: bytes, header: str | None) -> bool:
    """`X-PagerDuty-Signature: v1=<hex>[,v1=<hex>]`: any matching v1 signature passes."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    for part in header.split(","):
        version, _, sig = part.strip().partition("=")
        if version == "v1" and hmac.compare_digest(sig.strip(), expected):
            return True
    return False


def parse_pagerduty_event(body: Any) -> Parsed:
    body = require_dict(body, "PagerDuty")
    if "messages" in body and "event" not in body:
        return _parse_messages(body)
    event = body.get("event")
    if not isinstance(event, dict):
        raise PayloadError("event: missing (is this a PagerDuty v3 webhook?)")
    etype = event.get("event_type")
    if not isinstance(etype, str) or not etype:
        raise PayloadError("event.event_type: missing")
    if etype not in LIFECYCLE:
        return Parsed.skip(etype)
    data = event.get("data")
    if not isinstance(data, dict):
        raise PayloadError("event.data: missing")
    if data.get("type") not in (None, "incident"):
        return Parsed.skip(f"{etype} ({data.get('type')})")
    if not data.get("id") or not isinstance(data["id"], str):
        raise PayloadError("event.data.id: missing")
    occurred = parse_time(event.get("occurred_at"), "event.occurred_at")
    if occurred is None:
        raise PayloadError("event.occurred_at: missing")
    status, opening = LIFECYCLE[etype]
    if etype != "incident.reopened" and data.get("status") == "resolved":
        status = "resolved"
    created = parse_time(data.get("created_at"), "event.data.created_at")
    start = occurred if etype == "incident.reopened" else (created or occurred)
    agent = who if isinstance(who := event.get("agent"), dict) else {}
    return _incident(data, etype, status, opening, start, occurred, agent, body)


def _incident(data: dict, etype: str, status: str, opening: bool, start: datetime, occurred: datetime,
              agent: dict, raw: dict) -> Parsed:
    service = svc if isinstance(svc := data.get("service"), dict) else {}
    service_name = service.get("summary") or service.get("name") or None
    priority = prio if isinstance(prio := data.get("priority"), dict) else {}
    severity = normalise_severity(priority.get("summary") or data.get("urgency"))
    labels = {"pagerduty_service": str(service_name)} if service_name else {}
    if data.get("urgency"):
        labels["urgency"] = str(data["urgency"])
    title = str(data.get("title") or data.get("summary") or f"PagerDuty incident {data['id']}")
    annotations = {"summary": title, "event_type": etype}
    if etype == "incident.acknowledged":
        annotations[ACKED_BY] = str(agent.get("summary") or agent.get("id") or "pagerduty")
    alert = build(
        source="pagerduty",
        fingerprint=str(data["id"]),
        name=title[:300],
        service=str(service_name) if service_name else None,
        severity=severity,
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=start,
        ends_at=occurred if status == "resolved" else None,
        links=AlertLinks(generator=data.get("html_url") or None),
        raw=raw,
    )
    return Parsed(alerts=[alert], opening=[opening], anchored=True)


def _parse_messages(body: dict) -> Parsed:
    """v2 `messages[].incident` / v1 `messages[].data.incident`: one event per message."""
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise PayloadError("messages: expected a non-empty list")
    out = Parsed(anchored=True)
    skipped = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise PayloadError(f"messages[{i}]: not an object")
        etype = str(m.get("event") or m.get("type") or "")
        verb = etype.removeprefix("incident.")
        new = f"incident.{_OLD.get(verb, verb)}"
        if new not in LIFECYCLE:
            skipped.append(etype or "unknown")
            continue
        data: dict[str, Any] = m["data"] if isinstance(m.get("data"), dict) else {}
        inc = m.get("incident") if isinstance(m.get("incident"), dict) else data.get("incident")
        if not isinstance(inc, dict) or not inc.get("id"):
            raise PayloadError(f"messages[{i}].incident.id: missing")
        occurred = parse_time(m.get("created_on") or inc.get("last_status_change_on") or inc.get("created_on"),
                              f"messages[{i}].created_on")
        created = parse_time(inc.get("created_on") or inc.get("created_at"), f"messages[{i}].incident.created_on")
        if occurred is None and created is None:
            raise PayloadError(f"messages[{i}].created_on: missing")
        occurred = occurred or created
        assert occurred is not None
        status, opening = LIFECYCLE[new]
        data = {
            "id": inc["id"],
            "title": (inc.get("trigger_summary_data") or {}).get("subject") or inc.get("title") or inc.get("summary"),
            "service": inc.get("service"),
            "urgency": inc.get("urgency"),
            "html_url": inc.get("html_url"),
        }
        p = _incident(data, new, status, opening, created or occurred, occurred, {}, m)
        out.alerts += p.alerts
        out.opening += p.opening
    if not out.alerts:
        return Parsed.skip(", ".join(skipped))
    return out


class PagerDutySource:
    name = "pagerduty"
    signature_header: str | None = "X-PagerDuty-Signature"

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed:
        return parse_pagerduty_event(body)

    def secret(self, settings: Any) -> str | None:
        s = getattr(settings, "pagerduty_webhook_secret", None)
        return s.get_secret_value() if s is not None else None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        return verify_pagerduty_signature(secret, raw, headers.get("x-pagerduty-signature"))

    def detect(self, body: Any) -> bool:
        if not isinstance(body, dict):
            return False
        if isinstance(body.get("event"), dict) and "event_type" in body["event"]:
            return True
        msgs = body.get("messages")
        return isinstance(msgs, list) and bool(msgs) and isinstance(msgs[0], dict) and \
            str(msgs[0].get("event") or msgs[0].get("type") or "").startswith("incident.")


SOURCE = PagerDutySource()
