"""Noise figures: how much the correlation saved people, and how fast they reacted."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel


class NoiseStats(BaseModel):
    window: str
    notifications: int  # webhook notifications received (retries and repeats included)
    alerts: int  # distinct alert occurrences
    incidents: int
    open_incidents: int
    dedup_ratio: float | None  # 1 - alerts / notifications
    compression: float | None  # 1 - incidents / alerts
    alerts_per_incident: float | None
    acked: int
    median_time_to_ack_s: float | None
    p90_time_to_ack_s: float | None
    resolved: int
    median_time_to_resolve_s: float | None
    p90_time_to_resolve_s: float | None
    parked: int = 0  # stored alerts correlation could not place (see the log reference)
    remediation: list[str] = []  # actions run through triops and how often each worked


def noise_stats(window: str, alert_rows: list[dict], incident_rows: list[dict]) -> NoiseStats:
    notifications = sum(int(r.get("notifications") or 1) for r in alert_rows)
    n_alerts = len(alert_rows)
    n_inc = len(incident_rows)
    tta = np.array([r["acked_at"] - r["opened_at"] for r in incident_rows if r.get("acked_at") is not None], dtype=float)
    ttr = np.array(
        [r["resolved_at"] - r["opened_at"] for r in incident_rows if r.get("resolved_at") is not None], dtype=float
    )

    def pct(a: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(a, q)), 1) if a.size else None

    return NoiseStats(
        window=window,
        notifications=notifications,
        alerts=n_alerts,
        incidents=n_inc,
        open_incidents=sum(1 for r in incident_rows if r.get("status") == "open"),
        dedup_ratio=round(1 - n_alerts / notifications, 4) if notifications else None,
        # over the window's alerts and the incidents *they* belong to, so an incident opened
        # just before the window never makes it negative
        compression=round(1 - len({r["incident_id"] for r in alert_rows if r.get("incident_id")}) / n_alerts, 4)
        if n_alerts
        else None,
        alerts_per_incident=round(n_alerts / n_inc, 2) if n_inc else None,
        acked=int(tta.size),
        median_time_to_ack_s=pct(tta, 50),
        p90_time_to_ack_s=pct(tta, 90),
        resolved=int(ttr.size),
        median_time_to_resolve_s=pct(ttr, 50),
        p90_time_to_resolve_s=pct(ttr, 90),
    )
