"""Inputs and outputs of the metrics tools: light to import (the CLI builds options from them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MetricsQuery(BaseModel):
    service: str = Field(description="Service name (from services.yaml)")
    window: str = Field(default="6h", description="How far back: 6h, 1d, 7d…")


class ForecastQuery(BaseModel):
    target: str = Field(description="disk, memory, or a PromQL query of a level that fills up")
    service: str | None = Field(default=None, description="Restrict disk/memory to this service's instances")
    window: str = Field(default="7d", description="History to fit on (14d+ accounts for the weekly pattern)")
    horizon: str = Field(default="30d", description="How far ahead to look")
    limit: float | None = Field(default=None, description="The level meaning 'full' for a PromQL query (default 1.0)")


class AnomalyMark(BaseModel):
    at: datetime
    value: float
    baseline: float
    ratio: float | None  # value / baseline (None when the baseline is 0)
    score: float
    deploy: str | None = None  # the deployment of the service that precedes the change
    minutes_after_deploy: float | None = None


class SignalReport(BaseModel):
    signal: str  # latency | traffic | errors | saturation
    query: str
    points: int = 0
    last: float | None = None
    baseline: float | None = None
    anomalies: list[AnomalyMark] = Field(default_factory=list)
    error: str | None = None  # why this signal could not be read


class MetricsReport(BaseModel):
    service: str
    window: str
    signals: list[SignalReport]


class ExhaustionLine(BaseModel):
    labels: dict[str, str]
    current: float
    limit: float
    hours: float | None  # None = not within the horizon
    low_hours: float | None
    high_hours: float | None
    slope_per_hour: float
    seasonal: list[str] = Field(default_factory=list)
    steps: int = 0


class ForecastReport(BaseModel):
    target: str
    query: str
    window: str
    horizon_hours: float
    lines: list[ExhaustionLine]
