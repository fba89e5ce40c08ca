"""Input models of the model tools: light to import (the CLI builds its options from them)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.drift.models import Method


class ModelStatusQuery(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="registered model name")


class DriftQuery(BaseModel):
    model: str | None = Field(None, max_length=200, description="model whose stored feature windows to compare")
    reference: str | None = Field(None, description="CSV/Parquet path or store:MODEL/LABEL; default the model's reference window")
    current: str | None = Field(None, description="CSV/Parquet path or store:MODEL/LABEL; default the model's newest window")
    target: str | None = Field(None, description="the model's output column, for prediction drift")
    method: Method | None = Field(None, description="one test for every feature instead of Evidently's defaults")
    threshold: float | None = Field(None, gt=0, description="one threshold for every feature")
    drift_share: float = Field(0.5, gt=0, le=1)
    record: bool = Field(False, description="store the report (and a drift event when over threshold); reading never writes")


class PerformanceQuery(BaseModel):
    model: str = Field(min_length=1, max_length=200, description="model whose stored windows to estimate on")
    window: str = Field("latest", max_length=64, description="the current window's label; default the newest")
    reference: str = Field("reference", max_length=64, description="the labelled reference window's label")
    chunk_size: int | None = Field(None, ge=100, le=10_000_000, description="also estimate per chunk of this many rows")
    target: str | None = Field(None, max_length=200, description="the label column (default label/target/y_true)")
    proba: list[str] | None = Field(None, max_length=100, description="probability column(s), one per class for multiclass")
    prediction: str | None = Field(None, max_length=200, description="the predicted class / value column")
