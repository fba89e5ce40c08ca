"""Input models of the alert tools: light to import (the CLI builds its options from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class AlertsQuery(BaseModel):
    service: str | None = Field(default=None, description="Only incidents touching this service")
    state: Literal["open", "resolved", "all"] = "open"
    limit: int = Field(default=20, ge=1, le=200)


class IncidentQuery(BaseModel):
    id: str = Field(min_length=3, description="Incident id (inc-…), or a unique prefix of it")


class StatsQuery(BaseModel):
    window: str = Field(default="7d", description="12h, 7d, 30d…")
    as_of: datetime | None = None
