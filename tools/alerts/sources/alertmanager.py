"""Prometheus Alertmanager webhook (version 4).

Identity: `alerts[].fingerprint` as Alertmanager sends it (a label hash is computed only
when a sender leaves it out). Status comes from each alert's `status`, never from `endsAt`
(a resolved alert may carry Go's zero endsAt). `truncatedAlerts` (alerts Alertmanager held
back because of `max_alerts`) is kept on every alert of the group as an annotation, so the
incident shows it. No signature: auth is the shared token (Alertmanager `http_config`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tools.alerts.models import Alert, AlertLinks, label_fingerprint, normalise_severity
from tools.alerts.sources.base import (
    NoSignature,
    Parsed,
    build,
    parse_time,
    require_dict,
    service_from_labels,
    str_map,
)
from tools.errors import PayloadError

_GROUP_FIELDS = ("receiver", "groupKey", "externalURL", "truncatedAlerts", "version", "orgId")
TRUNCATED = "truncated_alerts"


def truncated_note(count: int, sender: str = "Alertmanager") -> str:
    return f"{sender} held back {count} more alert{'s' if count != 1 else ''}"


def parse_alertmanager(body: Any, *, source: str = "alertmanager") -> list[Alert]:
    body = require_dict(body, source)
    items = body.get("alerts")
    if not isinstance(items, list):
        raise PayloadError("alerts: missing or not a list (is this an Alertmanager webhook?)")
    group = {k: body[k] for k in _GROUP_FIELDS if k in body}
    common = str_map(body.get("commonLabels"), "commonLabels")
    truncated = body.get("truncatedAlerts") or 0
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError(f"truncatedAlerts: expected a count, got {truncated!r}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise PayloadError(f"alerts[{i}]: not an object")
        try:
            out.append(_alert(item, group, common, source, truncated))
        except PayloadError as exc:
            raise PayloadError(f"alerts[{i}].{exc}") from None
    return out


def _alert(item: dict, group: dict, common: dict[str, str], source: str, truncated: int) -> Alert:
    labels = {**common, **str_map(item.get("labels"), "labels")}
    annotations = str_map(item.get("annotations"), "annotations")
    if truncated:
        annotations[TRUNCATED] = truncated_note(truncated, "Grafana" if source == "grafana" else "Alertmanager")
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
    generator = item.get("generatorURL") or None
    if generator is not None and not isinstance(generator, str):
        raise PayloadError(f"generatorURL: expected a string, got {generator!r}")
    if generator and generator.startswith("?") and group.get("externalURL"):
        generator = str(group["externalURL"]).rstrip("/") + "/" + generator  # Grafana 12 test alerts
    links = AlertLinks(
        generator=generator,
        runbook=annotations.get("runbook_url") or annotations.get("runbook") or None,
        dashboard=item.get("dashboardURL") or item.get("panelURL") or annotations.get("dashboard") or None,
        silence=item.get("silenceURL") or None,
    )
    return build(
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


class AlertmanagerSource(NoSignature):
    name = "alertmanager"

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed:
        return Parsed.of(parse_alertmanager(body))

    def detect(self, body: Any) -> bool:
        return (isinstance(body, dict) and isinstance(body.get("alerts"), list)
                and ("groupKey" in body or "receiver" in body) and "orgId" not in body)


SOURCE = AlertmanagerSource()
