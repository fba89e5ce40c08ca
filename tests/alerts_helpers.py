"""Small builders for hand-made alert storms."""

from __future__ import annotations

from datetime import UTC, datetime

from tools.alerts.models import Alert

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()


def mk(
    name: str,
    service: str | None,
    t: float,
    *,
    status: str = "firing",
    fp: str | None = None,
    started: float | None = None,
    message: str | None = None,
    namespace: str | None = None,
    severity: str = "warning",
    source: str = "alertmanager",
) -> Alert:
    """An alert `t` seconds after T0; a resolve keeps the firing's start (`started`)."""
    labels = {"alertname": name}
    if service:
        labels["service"] = service
    if namespace:
        labels["namespace"] = namespace
    start = T0 + (started if started is not None else t)
    return Alert(
        source=source,
        fingerprint=fp or f"{name}/{service}",
        name=name,
        service=service,
        severity=severity,
        status=status,
        labels=labels,
        annotations={"summary": message or f"{name} on {service}"},
        starts_at=datetime.fromtimestamp(start, UTC),
        ends_at=datetime.fromtimestamp(T0 + t, UTC) if status == "resolved" else None,
    )
