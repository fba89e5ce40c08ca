"""The five DORA metrics as pure functions over plain arrays (no I/O).

Conventions, stated once so the hand-computed tests and the bench's pandas version agree:
- a deployment belongs to a window when it *finished* inside [start, end);
- percentiles are numpy's default (linear interpolation): median = p50;
- day and week buckets are counted back from the window's end, so a 30-day window has four
  whole weeks (days 0–27) and one 30-day month.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tools.dora import levels
from tools.dora.models import (
    ChangeFailStats,
    FrequencyStats,
    LeadTimeStats,
    OpenFailure,
    RecoveryStats,
    ReworkStats,
)
from tools.timeutil import from_epoch

DAY_S = 86400.0
HOUR_S = 3600.0


def day_offsets(finished: np.ndarray, end: float) -> np.ndarray:
    """Distinct whole days back from the window end (0 = the last 24 h) with a deployment."""
    if finished.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.floor((end - finished) / DAY_S).astype(np.int64))


def _median_days_per_bucket(offsets: np.ndarray, window_days: float, bucket: int) -> float:
    n_buckets = max(1, int(window_days // bucket))
    counts = np.zeros(n_buckets, dtype=np.int64)
    inside = offsets[offsets < n_buckets * bucket] if window_days >= bucket else offsets
    if inside.size:
        idx = np.minimum(inside // bucket, n_buckets - 1)
        np.add.at(counts, idx, 1)
    if window_days < bucket:  # a short window: scale its deploy-days to a full bucket
        return float(counts[0]) * bucket / window_days
    return float(np.median(counts))


def deployment_frequency(count: int, deploy_days: np.ndarray, window_days: float) -> FrequencyStats:
    per_week = _median_days_per_bucket(deploy_days, window_days, 7)
    per_month = _median_days_per_bucket(deploy_days, window_days, 30)
    return FrequencyStats(
        deployments=count,
        per_day=count / window_days,
        per_week=count / window_days * 7,
        deploy_days=int(deploy_days.size),
        median_deploy_days_per_week=per_week,
        median_deploy_days_per_month=per_month,
        level=levels.frequency_level(per_week, per_month),
    )


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def lead_time(lead_seconds: np.ndarray, commits_without_time: int = 0) -> LeadTimeStats:
    """Lead time per commit; a commit dated after its deployment (clock skew) counts as 0."""
    hours = np.maximum(lead_seconds, 0.0) / HOUR_S
    median = _pct(hours, 50)
    return LeadTimeStats(
        commits=int(hours.size),
        commits_without_time=commits_without_time,
        median_hours=median,
        p90_hours=_pct(hours, 90),
        level=levels.lead_time_level(median),
    )


def change_fail_rate(deployments: int, failed_ids: list[str], *, keep: int = 20) -> ChangeFailStats:
    rate = 100.0 * len(failed_ids) / deployments if deployments else None
    return ChangeFailStats(
        deployments=deployments,
        failed=len(failed_ids),
        rate_percent=rate,
        level=levels.change_fail_level(rate),
        failed_deployments=sorted(failed_ids)[:keep],
    )


@dataclass(frozen=True)
class Failure:
    """A deployment that needed intervention, with what (if anything) restored service."""

    deployment_id: str
    service: str
    finished_at: float
    remediated_at: float | None  # finish of the first successful remediating deployment
    incidents: int
    incidents_open: int
    incidents_resolved_at: float | None  # the last resolution among its incidents


def recovered_at(f: Failure) -> float | None:
    """The earlier of remediation and the resolution of all its incidents."""
    candidates = []
    if f.remediated_at is not None:
        candidates.append(f.remediated_at)
    if f.incidents and not f.incidents_open and f.incidents_resolved_at is not None:
        candidates.append(f.incidents_resolved_at)
    return min(candidates) if candidates else None


def recovery_time(failures: list[Failure], as_of: float) -> RecoveryStats:
    done: list[float] = []
    still_open: list[OpenFailure] = []
    for f in failures:
        at = recovered_at(f)
        if at is None:
            still_open.append(
                OpenFailure(
                    deployment_id=f.deployment_id,
                    service=f.service,
                    finished_at=from_epoch(f.finished_at),
                    open_hours=max(0.0, as_of - f.finished_at) / HOUR_S,
                )
            )
        else:
            done.append(max(0.0, at - f.finished_at) / HOUR_S)
    hours = np.asarray(done, dtype=float)
    median = _pct(hours, 50)
    return RecoveryStats(
        failures=len(failures),
        recovered=len(done),
        median_hours=median,
        p90_hours=_pct(hours, 90),
        level=levels.recovery_level(median),
        open_failures=sorted(still_open, key=lambda o: o.finished_at),
    )


def rework_rate(deployments: int, rollbacks: int, hotfixes: int) -> ReworkStats:
    unplanned = rollbacks + hotfixes
    return ReworkStats(
        deployments=deployments,
        unplanned=unplanned,
        rollbacks=rollbacks,
        hotfixes=hotfixes,
        rate_percent=100.0 * unplanned / deployments if deployments else None,
    )
