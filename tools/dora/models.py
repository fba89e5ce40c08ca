"""Input and output of the DORA tool. The output is a stable JSON interface (`--json`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, field_validator, model_validator

from tools.catalog import Scope
from tools.dora.levels import Level
from tools.timeutil import Window


class DoraQuery(BaseModel):
    """DORA metrics for a service, a team or the whole org over a window.

    `scope` is the ambiguous word a person types ("checkout", "payments": a service is
    tried first, then a team); `service` and `team` say which one is meant, so a team
    named like a service (team payments, service payments) is never answered for the
    other. At most one of the three is given (scope repeating the explicit one's name is
    dropped); none means the whole org.
    """

    scope: str | None = Field(
        default=None,
        description="A service name or a team name (a service is tried first); empty for the whole org.",
    )
    service: str | None = Field(default=None, description="A service name, only ever a service.")
    team: str | None = Field(default=None, description="A team name, only ever a team.")
    window: str = Field(default="30d", description="Window length, e.g. 7d, 30d, 90d, 12w.")
    as_of: datetime | None = Field(
        default=None, description="End of the window (UTC); default now."
    )

    @field_validator("scope", "service", "team")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _one_subject(self) -> DoraQuery:
        """At most one subject. `scope` naming the very same thing as `service` or `team` (a
        caller filling every field it has a value for) is a repeat, not a second subject:
        the explicit field is kept."""
        explicit = self.service or self.team
        if self.scope and explicit and self.scope.lower() == explicit.lower():
            self.scope = None
        given = [f for f in ("scope", "service", "team") if getattr(self, f)]
        if len(given) > 1:
            raise ValueError(f"give at most one of scope, service and team (got {', '.join(given)})")
        return self


class FrequencyStats(BaseModel):
    """Rates and level are None for a window shorter than a day (see metrics.deployment_frequency)."""

    deployments: int
    per_day: float | None
    per_week: float | None
    deploy_days: int
    median_deploy_days_per_week: float | None
    median_deploy_days_per_month: float | None
    level: Level | None
    note: str | None = None


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
    from_confirmed_incidents: int = 0  # failures a human confirmed from an alert incident's suspect change


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
