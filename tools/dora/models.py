"""Input and output of the DORA tool. The output is a stable JSON interface (`--json`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tools.catalog import Scope
from tools.dora.levels import Level
from tools.timeutil import Window


class DoraQuery(BaseModel):
    """DORA metrics for a service, a team or the whole org over a window."""

    scope: str | None = Field(
        default=None, description="A service name, a team name, or empty for the whole org."
    )
    window: str = Field(default="30d", description="Window length, e.g. 7d, 30d, 90d, 12w.")
    as_of: datetime | None = Field(
        default=None, description="End of the window (UTC); default now."
    )


class FrequencyStats(BaseModel):
    deployments: int
    per_day: float
    per_week: float
    deploy_days: int
    median_deploy_days_per_week: float
    median_deploy_days_per_month: float
    level: Level


class LeadTimeStats(BaseModel):
    commits: int
    commits_without_time: int = 0
    median_hours: float | None
    p90_hours: float | None
    level: Level | None


class ChangeFailStats(BaseModel):
    deployments: int
    failed: int
    rate_percent: float | None
    level: Level | None
    failed_deployments: list[str] = Field(default_factory=list)


class OpenFailure(BaseModel):
    deployment_id: str
    service: str
    finished_at: datetime
    open_hours: float


class RecoveryStats(BaseModel):
    failures: int
    recovered: int
    median_hours: float | None
    p90_hours: float | None
    level: Level | None
    open_failures: list[OpenFailure] = Field(default_factory=list)


class ReworkStats(BaseModel):
    deployments: int
    unplanned: int
    rollbacks: int
    hotfixes: int
    rate_percent: float | None


class DoraPeriod(BaseModel):
    window: Window
    deployment_frequency: FrequencyStats
    lead_time: LeadTimeStats
    change_fail_rate: ChangeFailStats
    recovery_time: RecoveryStats
    rework_rate: ReworkStats


class DoraReport(BaseModel):
    scope: Scope
    window: str
    current: DoraPeriod
    previous: DoraPeriod
    services: list[str] = Field(default_factory=list, description="Services seen in the window")
    level_source: str
