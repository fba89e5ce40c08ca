"""Compatibility shim: the parsers now live one module per sender in `tools.alerts.sources`.

Each `parse_<sender>(body)` returns the alerts of one notification (an empty list when the
notification is not an alert, e.g. a PagerDuty note) or raises `PayloadError`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tools.alerts.models import Alert
from tools.alerts.sources import detect_source
from tools.alerts.sources.alertmanager import parse_alertmanager
from tools.alerts.sources.base import ACKED_BY, SERVICE_LABELS, parse_time, service_from_labels
from tools.alerts.sources.generic import GENERIC_DOC, parse_generic
from tools.alerts.sources.grafana import SOURCE as _GRAFANA
from tools.alerts.sources.grafana import parse_grafana
from tools.alerts.sources.opsgenie import parse_opsgenie_event
from tools.alerts.sources.pagerduty import parse_pagerduty_event, verify_pagerduty_signature
from tools.errors import PayloadError


def _now() -> datetime:
    return datetime.now(tz=UTC)


def parse_pagerduty(body: Any) -> list[Alert]:
    return parse_pagerduty_event(body).alerts


def parse_opsgenie(body: Any) -> list[Alert]:
    return parse_opsgenie_event(body).alerts


def parse_grafana_any(body: Any) -> list[Alert]:
    """Unified or legacy Grafana alerting."""
    return _GRAFANA.parse(body, {}, _now).alerts


PARSERS: dict[str, Callable[[Any], list[Alert]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana_any,
    "pagerduty": parse_pagerduty,
    "opsgenie": parse_opsgenie,
    "generic": parse_generic,
}


def parse_any(body: Any) -> list[Alert]:
    """Guess the source from the shape (for files mixing Alertmanager payloads and lines)."""
    return detect_source(body).parse(body, {}, _now).alerts


__all__ = [
    "ACKED_BY", "GENERIC_DOC", "PARSERS", "SERVICE_LABELS", "PayloadError", "parse_alertmanager", "parse_any",
    "parse_generic", "parse_grafana", "parse_opsgenie", "parse_pagerduty", "parse_time", "service_from_labels",
    "verify_pagerduty_signature",
]
