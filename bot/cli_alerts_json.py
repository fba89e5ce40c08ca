"""The stable `triops alerts correlate --json` shape (apart from the command so that
`triops --help` does not build these models)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.alerts.files import LineError


class CorrelatedIncident(BaseModel):
    id: str
    status: str
    severity: str
    title: str
    services: list[str]
    opened_at: str
    resolved_at: str | None
    alert_ids: list[str]
    probable_cause: str | None = None  # None when there is none, or the evidence singles out none
    no_clear_cause: bool = False  # the engine abstained: the causes it weighed name no culprit


class CorrelateOutput(BaseModel):
    """The stable `--json` interface for evaluation: incidents with their member alert ids."""

    notifications: int
    alerts: int
    incidents: list[CorrelatedIncident] = Field(default_factory=list)
    errors: list[LineError] = Field(default_factory=list)
