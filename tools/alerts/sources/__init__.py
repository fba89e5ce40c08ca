"""The registry of alert sources: one module per sender, looked up by route name.

`POST /hooks/{name}` and `triops ingest alerts` both use `ALERT_SOURCES`; a new sender is
one module with a `SOURCE` plus its fixtures under tests/fixtures/senders/<name>/.
"""

from __future__ import annotations

from typing import Any

from tools.alerts.sources import alertmanager, generic, grafana, opsgenie, pagerduty
from tools.alerts.sources.base import AlertSource, Parsed

ALERT_SOURCES: dict[str, AlertSource] = {
    "alertmanager": alertmanager.SOURCE,
    "grafana": grafana.SOURCE,
    "pagerduty": pagerduty.SOURCE,
    "opsgenie": opsgenie.SOURCE,
    "alerts": generic.SOURCE,  # the historical route name of the generic source
    "generic": generic.SOURCE,
}


def detect_source(body: Any) -> AlertSource:
    """The source a decoded body looks like (files mix Alertmanager payloads and lines)."""
    for name in ("grafana", "alertmanager", "pagerduty", "opsgenie"):
        if ALERT_SOURCES[name].detect(body):
            return ALERT_SOURCES[name]
    return generic.SOURCE


__all__ = ["ALERT_SOURCES", "AlertSource", "Parsed", "detect_source"]
