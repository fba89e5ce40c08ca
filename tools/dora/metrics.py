"""The five DORA metrics as pure functions over plain arrays (no I/O).

Conventions, stated once so the hand-computed tests and the bench's pandas version agree:
- a deployment belongs to a window when it *finished* inside [start, end);
- percentiles are numpy's default (linear interpolation): median = p50;
- day and week buckets are counted back from the window's end and are half-open like the
  window: day k is [end-(k+1)d, end-k·d), so a deployment exactly at the window start is on
  the window's last day (29 of a 30-day window), never on a 31st. A 30-day window has four
  whole weeks (days 0–27) and one 30-day month.
- a window shorter than a day (e.g. `1h`) gives the count of deployments only: a rate per
  day or per week, and so a frequency level, would be extrapolated from a sample smaller
  than the unit (one deployment in an hour is not 24 a day, nor seven deploy-days a
  week), so they are None with a note. Windows of a day or more are scaled as before: a
  2-day window's deploy-days are scaled to a week.
"""

from __future__ import annotations

import heapq
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
from tools.timeutil import MIN_RATE_DAYS, from_epoch

DAY_S = 86400.0
HOUR_S = 3600.0


def day_offsets(finished: np.ndarray, end: float) -> np.ndarray:
    """Distinct whole days back from the window end (0 = [end-24h, end)) with a deployment."""
    if finished.size == 0:
        return np.empty(0, dtype=np.int64)
    return np.unique(np.ceil((end - finished) / DAY_S).astype(np.int64) - 1)


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
    """Per-day and per-week rates and the level; only the counts below a day (module doc)."""
    if window_days < MIN_RATE_DAYS:
        return FrequencyStats(
            deployments=count,
            per_day=None,
            per_week=None,
            deploy_days=int(deploy_days.size),
            median_deploy_days_per_week=None,
            median_deploy_days_per_month=None,
            level=None,
            note=f"{count} deployment{'' if count == 1 else 's'} in a window shorter than a day: "
            "too short for a rate or a DORA level (use 1d or more)",
        )
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


def _median_p90(values: np.ndarray) -> tuple[float | None, float | None]:
    """Both in one call: numpy partitions once for the two order statistics."""
    if not values.size:
        return None, None
    median, p90 = np.percentile(values, [50, 90])
    return float(median), float(p90)


def lead_time(lead_seconds: np.ndarray, commits_without_time: int = 0) -> LeadTimeStats:
    """Lead time per commit; a commit dated after its deployment (clock skew) counts as 0."""
    hours = np.maximum(lead_seconds, 0.0) / HOUR_S
    median, p90 = _median_p90(hours)
    return LeadTimeStats(
        commits=int(hours.size),
        commits_without_time=commits_without_time,
        median_hours=median,
        p90_hours=p90,
        level=levels.lead_time_level(median),
    )


def change_fail_rate(deployments: int, failed_ids: list[str], *, keep: int = 20) -> ChangeFailStats:
    rate = 100.0 * len(failed_ids) / deployments if deployments else None
    return ChangeFailStats(
        deployments=deployments,
        failed=len(failed_ids),
        rate_percent=rate,
        level=levels.change_fail_level(rate),
        failed_deployments=heapq.nsmallest(keep, failed_ids),
    )


@dataclass(frozen=True)
class Failures:
    """A window's failed deployments as parallel arrays; `recovered_at` is NaN while open.

    Recovery of one failure is the earlier of the finish of its first successful
    remediation and the last resolution of its incidents once all are resolved (both by
    as_of); the store query computes it per failure (tools/dora/query.py).
    """

    ids: list[str]
    services: list[str]
    finished_at: np.ndarray
    recovered_at: np.ndarray
    confirmed: int = 0  # failures named by an alert incident whose cause a human confirmed

    @classmethod
    def empty(cls) -> Failures:
        return cls([], [], np.empty(0), np.empty(0))

    def __len__(self) -> int:
        return len(self.ids)


def recovery_time(failures: Failures, as_of: float) -> RecoveryStats:
    done = ~np.isnan(failures.recovered_at)
    hours = np.maximum(failures.recovered_at[done] - failures.finished_at[done], 0.0) / HOUR_S
    still_open = sorted(
        (
            OpenFailure(
                deployment_id=failures.ids[i],
                service=failures.services[i],
                finished_at=from_epoch(float(failures.finished_at[i])),
                open_hours=max(0.0, as_of - float(failures.finished_at[i])) / HOUR_S,
            )
            for i in np.flatnonzero(~done)
        ),
        key=lambda o: (o.finished_at, o.deployment_id),
    )
    median, p90 = _median_p90(hours)
    return RecoveryStats(
        failures=len(failures),
        recovered=int(hours.size),
        median_hours=median,
        p90_hours=p90,
        level=levels.recovery_level(median),
        open_failures=still_open,
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
