"""Parse each source's real webhook shape into `Alert`s.

Every parser takes the decoded JSON body and returns a list of alerts or raises
`PayloadError` with a reason a sender can act on. Fields we do not model stay in `raw`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from tools.alerts.models import Alert, AlertLinks, label_fingerprint, normalise_severity
from tools.errors import PayloadError

# `job` is left out on purpose: for kube-state-metrics alerts it names the exporter, not the service.
SERVICE_LABELS = (
    "service", "service_name", "app_kubernetes_io_name", "app", "application",
    "deployment", "statefulset", "daemonset", "container",
)
_EPOCH_LIMIT_MS = 10**11  # larger epoch values are milliseconds


# An annotation set when the source reports that someone acknowledged the alert there.
ACKED_BY = "acknowledged_by"




def parse_time(value: Any, field: str) -> datetime | None:
    """RFC 3339 (Go's nanoseconds and `Z` included) or epoch seconds/milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{field}: not a time: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise PayloadError(f"{field}: not a time: {value!r}")
        seconds = value / 1000 if abs(value) > _EPOCH_LIMIT_MS else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{field}: time out of range: {value!r}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return parse_time(float(text), field)
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise PayloadError(f"{field}: not an RFC 3339 time: {value!r}") from None
        if dt.year <= 1:  # Go's zero time: Alertmanager's "not ended yet"
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise PayloadError(f"{field}: not a time: {value!r}")


def _str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{field}: expected an object of strings")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def service_from_labels(labels: dict[str, str]) -> str | None:
    for key in SERVICE_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def _build(**kw: Any) -> Alert:
    try:
        return Alert(**kw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "alert"
        raise PayloadError(f"{loc}: {err.get('msg')}") from None


def _require_dict(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PayloadError(f"{what} payload must be a JSON object")
    return body


# --- Prometheus Alertmanager (webhook version 4) and Grafana unified alerting ----------------

_AM_GROUP_FIELDS = ("receiver", "groupKey", "externalURL", "truncatedAlerts", "version", "orgId")


def parse_alertmanager(body: Any, *, source: str = "alertmanager") -> list[Alert]:
    body = _require_dict(body, source)
    items = body.get("alerts")
    if not isinstance(items, list):
        raise PayloadError("alerts: missing or not a list (is this an Alertmanager webhook?)")
    group = {k: body[k] for k in _AM_GROUP_FIELDS if k in body}
    common = _str_map(body.get("commonLabels"), "commonLabels")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError(f"alerts[{i}]: not an object")
        try:
            out.append(_am_alert(item, group, common, source))
        except PayloadError as exc:
            raise PayloadError(f"alerts[{i}].{exc}") from None
    return out


def _am_alert(item: dict, group: dict, common: dict[str, str], source: str) -> Alert:
    labels = {**common, **_str_map(item.get("labels"), "labels")}
    annotations = _str_map(item.get("annotations"), "annotations")
    name = labels.get("alertname") or item.get("title") or ""
    if not name:
        raise PayloadError("labels.alertname: missing")
    status = str(item.get("status") or "firing").lower()
    if status not in {"firing", "resolved"}:
        raise PayloadError(f"status: expected firing or resolved, got {status!r}")
    starts = parse_time(item.get("startsAt"), "startsAt")
    if starts is None:
        raise PayloadError("startsAt: missing")
    ends = parse_time(item.get("endsAt"), "endsAt")
    if status == "firing":
        ends = None  # Alertmanager sends a future endsAt (its resolve_timeout) while firing
    fingerprint = str(item.get("fingerprint") or label_fingerprint(labels))
    links = AlertLinks(
        generator=item.get("generatorURL") or None,
        runbook=annotations.get("runbook_url") or annotations.get("runbook") or None,
        dashboard=item.get("dashboardURL") or item.get("panelURL") or annotations.get("dashboard") or None,
        silence=item.get("silenceURL") or None,
    )
    return _build(
        source=source,
        fingerprint=fingerprint,
        name=name,
        service=service_from_labels(labels),
        severity=normalise_severity(labels.get("severity") or labels.get("priority")),
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts,
        ends_at=ends,
        links=links,
        raw={**item, "_group": group},
    )


def parse_grafana(body: Any) -> list[Alert]:
    """Grafana's unified alerting webhook: Alertmanager's shape plus orgId, values, URLs."""
    return parse_alertmanager(body, source="grafana")


# --- PagerDuty v3 webhooks ------------------------------------------------------------------

_PD_STATUS = {
    "incident.triggered": "firing",
    "incident.acknowledged": "firing",
    "incident.unacknowledged": "firing",
    "incident.reopened": "firing",
    "incident.escalated": "firing",
    "incident.priority_updated": "firing",
    "incident.annotated": "firing",
    "incident.delegated": "firing",
    "incident.reassigned": "firing",
    "incident.responder.added": "firing",
    "incident.responder.replied": "firing",
    "incident.status_update_published": "firing",
    "incident.resolved": "resolved",
}


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


def parse_pagerduty(body: Any) -> list[Alert]:
    body = _require_dict(body, "PagerDuty")
    event = body.get("event")
    if not isinstance(event, dict):
        raise PayloadError("event: missing (is this a PagerDuty v3 webhook?)")
    etype = event.get("event_type")
    if not isinstance(etype, str):
        raise PayloadError("event.event_type: missing")
    if etype == "pagey.ping":
        return []
    if not etype.startswith("incident."):
        return []  # service.* and other resource events are not alerts
    data = event.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        raise PayloadError("event.data.id: missing")
    status = "resolved" if etype == "incident.resolved" or data.get("status") == "resolved" else _PD_STATUS.get(etype, "firing")
    occurred = parse_time(event.get("occurred_at"), "event.occurred_at")
    created = parse_time(data.get("created_at"), "event.data.created_at") or occurred
    if created is None:
        raise PayloadError("event.occurred_at: missing")
    service = svc if isinstance(svc := data.get("service"), dict) else {}
    service_name = service.get("summary") or service.get("name") or None
    priority = prio if isinstance(prio := data.get("priority"), dict) else {}
    severity = normalise_severity(priority.get("summary") or data.get("urgency"))
    labels = {"pagerduty_service": service_name} if service_name else {}
    if data.get("urgency"):
        labels["urgency"] = str(data["urgency"])
    title = str(data.get("title") or data.get("summary") or f"PagerDuty incident {data['id']}")
    annotations = {"summary": title, "event_type": etype}
    if etype == "incident.acknowledged":
        agent = who if isinstance(who := event.get("agent"), dict) else {}
        annotations[ACKED_BY] = str(agent.get("summary") or agent.get("id") or "pagerduty")
    return [
        _build(
            source="pagerduty",
            fingerprint=str(data["id"]),
            name=title[:300],
            service=service_name,
            severity=severity,
            status=status,
            labels=labels,
            annotations=annotations,
            starts_at=created,
            ends_at=occurred if status == "resolved" else None,
            links=AlertLinks(generator=data.get("html_url") or None),
            raw=body,
        )
    ]


# --- Opsgenie -------------------------------------------------------------------------------

_OG_CLOSE = {"close", "delete"}


def parse_opsgenie(body: Any) -> list[Alert]:
    body = _require_dict(body, "Opsgenie")
    action = body.get("action")
    alert = body.get("alert")
    if not isinstance(action, str) or not isinstance(alert, dict):
        raise PayloadError("action and alert: missing (is this an Opsgenie webhook?)")
    ident = alert.get("alias") or alert.get("alertId")
    if not ident:
        raise PayloadError("alert.alertId: missing")
    message = alert.get("message")
    if not message:
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
    created = parse_time(alert.get("createdAt"), "alert.createdAt")
    updated = parse_time(alert.get("updatedAt"), "alert.updatedAt")
    if created is None:
        raise PayloadError("alert.createdAt: missing")
    status = "resolved" if action.lower() in _OG_CLOSE else "firing"
    annotations = {"summary": str(message), "action": action}
    if action.lower() == "acknowledge":
        annotations[ACKED_BY] = str(alert.get("username") or "opsgenie")
    if alert.get("description"):
        annotations["description"] = str(alert["description"])
    return [
        _build(
            source="opsgenie",
            fingerprint=str(ident),
            name=str(message)[:300],
            service=labels.get("service") or (str(entity) if entity else None),
            severity=normalise_severity(alert.get("priority") or labels.get("severity")),
            status=status,
            labels=labels,
            annotations=annotations,
            starts_at=created,
            ends_at=(updated or created) if status == "resolved" else None,
            raw=body,
        )
    ]


# --- generic JSON ---------------------------------------------------------------------------

GENERIC_DOC = """One object, a list of objects, or {"alerts": [...]}; per alert:
  name (required), status firing|resolved (default firing), service, severity,
  message or summary, description, labels {..}, annotations {..},
  starts_at (RFC 3339 or epoch; default: now), ends_at, fingerprint (default: a hash of
  name + labels + service), source (default "generic"), generator_url, runbook_url,
  dashboard_url. Anything else is kept in raw."""

_GENERIC_KNOWN = {
    "name", "alertname", "status", "service", "severity", "message", "summary", "description",
    "labels", "annotations", "starts_at", "ends_at", "fingerprint", "source", "generator_url",
    "runbook_url", "dashboard_url",
}


def parse_generic(body: Any, *, now: Callable[[], datetime] | None = None) -> list[Alert]:
    if isinstance(body, dict) and isinstance(body.get("alerts"), list) and "name" not in body:
        items = body["alerts"]
    elif isinstance(body, list):
        items = body
    else:
        items = [body]
    out = []
    for i, item in enumerate(items):
        try:
            out.append(_generic_one(item, now))
        except PayloadError as exc:
            raise PayloadError(f"alert {i}: {exc}" if len(items) > 1 else str(exc)) from None
    return out


def _generic_one(item: Any, now: Callable[[], datetime] | None) -> Alert:
    if not isinstance(item, dict):
        raise PayloadError("not a JSON object")
    labels = _str_map(item.get("labels"), "labels")
    annotations = _str_map(item.get("annotations"), "annotations")
    name = item.get("name") or item.get("alertname") or labels.get("alertname")
    if not name or not isinstance(name, str):
        raise PayloadError("name: missing")
    for key in ("summary", "description"):
        if item.get(key):
            annotations.setdefault(key, str(item[key]))
    if item.get("message"):
        annotations.setdefault("summary", str(item["message"]))
    service = item.get("service") or service_from_labels(labels)
    status = str(item.get("status") or "firing").lower()
    if status not in {"firing", "resolved"}:
        raise PayloadError(f"status: expected firing or resolved, got {status!r}")
    starts = parse_time(item.get("starts_at"), "starts_at")
    if starts is None:
        starts = (now or (lambda: datetime.now(tz=UTC)))()
    ends = parse_time(item.get("ends_at"), "ends_at")
    if status == "resolved" and ends is None:
        ends = (now or (lambda: datetime.now(tz=UTC)))()
    fingerprint = item.get("fingerprint") or label_fingerprint(
        {**labels, "alertname": name, "service": service or ""}
    )
    extra = {k: v for k, v in item.items() if k not in _GENERIC_KNOWN}
    return _build(
        source=str(item.get("source") or "generic")[:64],
        fingerprint=str(fingerprint),
        name=name,
        service=str(service) if service else None,
        severity=normalise_severity(item.get("severity") or labels.get("severity")),
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts,
        ends_at=ends if status == "resolved" else None,
        links=AlertLinks(
            generator=item.get("generator_url"),
            runbook=item.get("runbook_url") or annotations.get("runbook_url"),
            dashboard=item.get("dashboard_url"),
        ),
        raw=extra,
    )


PARSERS: dict[str, Callable[[Any], list[Alert]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "pagerduty": parse_pagerduty,
    "opsgenie": parse_opsgenie,
    "generic": parse_generic,
}


def parse_any(body: Any) -> list[Alert]:
    """Guess the source from the shape (for files mixing Alertmanager payloads and lines)."""
    if isinstance(body, dict):
        if isinstance(body.get("alerts"), list) and ("groupKey" in body or "receiver" in body):
            return parse_grafana(body) if "orgId" in body else parse_alertmanager(body)
        if isinstance(body.get("event"), dict) and "event_type" in body["event"]:
            return parse_pagerduty(body)
        if "action" in body and isinstance(body.get("alert"), dict):
            return parse_opsgenie(body)
    return parse_generic(body)
