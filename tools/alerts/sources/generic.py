"""Generic JSON alerts (`/hooks/alerts`): for senders without a dedicated source.

Identity: `fingerprint` when given (kept as is), else a hash of name + labels + service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tools.alerts.models import Alert, AlertLinks, label_fingerprint, normalise_severity
from tools.alerts.sources.base import (
    NoSignature,
    Parsed,
    build,
    parse_time,
    service_from_labels,
    str_map,
)
from tools.errors import PayloadError

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
    labels = str_map(item.get("labels"), "labels")
    annotations = str_map(item.get("annotations"), "annotations")
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
    return build(
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


class GenericSource(NoSignature):
    name = "generic"

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed:
        return Parsed.of(parse_generic(body, now=now))

    def detect(self, body: Any) -> bool:
        return True


SOURCE = GenericSource()
