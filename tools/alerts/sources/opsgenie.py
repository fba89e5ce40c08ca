"""Opsgenie outgoing Webhook integration.

Identity: `alert.alertId` (present in every action, alone in `Escalate`), else `alias`.
Times: `createdAt` is epoch ms, `updatedAt` epoch ns (above 2**53: parsed as integers).
`priority` may be `"P3"` or the integer `3`. Actions, each on ONE alert:
Create opens it; Acknowledge acks it; Close and Delete resolve it; UnAcknowledge, tag,
team, owner and recipient changes update it without reopening a closed one; AddNote is a
note, not an alert; Escalate (only `alertId`) and custom actions change nothing: 202
"ignored". No signature: auth is the shared token (a custom header on the integration).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tools.alerts.models import normalise_severity
from tools.alerts.sources.base import ACKED_BY, NoSignature, Parsed, build, parse_time, require_dict
from tools.errors import PayloadError

OPENS = {"create"}
RESOLVES = {"close", "delete"}
UPDATES = {"acknowledge", "unacknowledge", "addtags", "removetags", "addteam", "addrecipient",
           "assignownership", "takeownership", "updatepriority", "updatemessage", "updatedescription"}


def _priority(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return f"P{value}"
    if isinstance(value, str):
        return value
    raise PayloadError(f"alert.priority: expected P1..P5 or 1..5, got {value!r}")


def parse_opsgenie_event(body: Any) -> Parsed:
    body = require_dict(body, "Opsgenie")
    action = body.get("action")
    alert = body.get("alert")
    if not isinstance(action, str) or not action:
        raise PayloadError("action: missing (is this an Opsgenie webhook?)")
    if not isinstance(alert, dict):
        raise PayloadError("alert: missing or not an object")
    ident = alert.get("alertId") or alert.get("alias")
    if not ident or not isinstance(ident, str):
        raise PayloadError("alert.alertId: missing")
    verb = action.lower()
    if verb == "addnote":
        return Parsed.skip(f"{action} (a note on alert {ident} is not an alert)")
    if verb not in OPENS | RESOLVES | UPDATES:
        return Parsed.skip(f"{action} (alert {ident} unchanged)")
    message = alert.get("message")
    if not message or not isinstance(message, str):
        raise PayloadError("alert.message: missing")
    tags = alert.get("tags") or []
    if not isinstance(tags, list):
        raise PayloadError("alert.tags: expected a list")
    labels: dict[str, str] = {}
    for tag in tags:
        key, sep, value = str(tag).partition(":")
        labels[key.strip() if sep else f"tag_{key.strip()}"] = value.strip() if sep else "true"
    entity = alert.get("entity") or None
    if entity:
        labels.setdefault("entity", str(entity))
    if alert.get("alias"):
        labels["opsgenie_alias"] = str(alert["alias"])
    created = parse_time(alert.get("createdAt"), "alert.createdAt")
    updated = parse_time(alert.get("updatedAt"), "alert.updatedAt")
    if created is None:
        raise PayloadError("alert.createdAt: missing")
    status = "resolved" if verb in RESOLVES else "firing"
    annotations = {"summary": message, "action": action}
    if verb == "acknowledge":
        annotations[ACKED_BY] = str(alert.get("username") or "opsgenie")
    if alert.get("description"):
        annotations["description"] = str(alert["description"])
    a = build(
        source="opsgenie",
        fingerprint=ident,
        name=message[:300],
        service=labels.get("service") or (str(entity) if entity else None),
        severity=normalise_severity(_priority(alert.get("priority")) or labels.get("severity")),
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=created,
        ends_at=(updated or created) if status == "resolved" else None,
        raw=body,
    )
    return Parsed(alerts=[a], opening=[verb in OPENS], anchored=True)


class OpsgenieSource(NoSignature):
    name = "opsgenie"

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed:
        return parse_opsgenie_event(body)

    def detect(self, body: Any) -> bool:
        return isinstance(body, dict) and "action" in body and isinstance(body.get("alert"), dict)


SOURCE = OpsgenieSource()
