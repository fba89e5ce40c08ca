"""DORA performance levels.

Source: the DORA 2023 Accelerate State of DevOps report's benchmark table as Apache DevLake
stores it (apache/incubator-devlake, backend/plugins/dora/models/migrationscripts/
20240223_add_dora_2023_benchmark.go):
- deployment frequency: on-demand (elite) / between once per day and once per week (high) /
  between once per week and once per month (medium) / fewer than once per month (low);
- lead time for changes: < 1 day / 1 day–1 week / 1 week–1 month / > 1 month;
- change failure rate: 0–5 % / 5–10 % / 10–15 % / > 15 %;
- failed deployment recovery time: < 1 hour / < 1 day / 1 day–1 week / > 1 week.
Deployment frequency is binned from the median number of days with a deployment per week
(and per month), as Google's fourkeys does: ≥ 3 deploy-days a week reads as on-demand.
Deployment rework rate (added in 2024) has no published level table, so it gets none.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["elite", "high", "medium", "low"]

LEVEL_SOURCE = "DORA 2023 benchmark table (as in Apache DevLake's dora_benchmarks)"

HOUR = 1.0
DAY = 24.0
WEEK = 7 * DAY
MONTH = 30 * DAY


def frequency_level(median_days_per_week: float, median_days_per_month: float) -> Level:
    if median_days_per_week >= 3:
        return "elite"
    if median_days_per_week >= 1:
        return "high"
    if median_days_per_month >= 1:
        return "medium"
    return "low"


def lead_time_level(median_hours: float | None) -> Level | None:
    if median_hours is None:
        return None
    if median_hours < DAY:
        return "elite"
    if median_hours <= WEEK:
        return "high"
    if median_hours <= MONTH:
        return "medium"
    return "low"


def change_fail_level(rate_percent: float | None) -> Level | None:
    if rate_percent is None:
        return None
    if rate_percent <= 5:
        return "elite"
    if rate_percent <= 10:
        return "high"
    if rate_percent <= 15:
        return "medium"
    return "low"


def recovery_level(median_hours: float | None) -> Level | None:
    if median_hours is None:
        return None
    if median_hours < HOUR:
        return "elite"
    if median_hours < DAY:
        return "high"
    if median_hours <= WEEK:
        return "medium"
    return "low"
