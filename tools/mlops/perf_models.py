"""Performance estimates as every surface reads them (pydantic only: light to import)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Task = Literal["binary", "multiclass", "regression"]
CLASSIFICATION_METRICS = ("accuracy", "roc_auc", "f1", "precision", "recall")
REGRESSION_METRICS = ("mae", "rmse")
LOWER_IS_BETTER = frozenset(REGRESSION_METRICS)


class MetricEstimate(BaseModel):
    metric: str
    estimate: float | None = Field(description="None when the chunk makes the metric undefined")
    sampling_error: float
    lower: float | None = Field(None, description="band: estimate - 3 sampling errors")
    upper: float | None = None
    realised: float | None = Field(None, description="from labels, when the chunk has them")
    reference: float = Field(description="realised on the whole reference window")
    alert_lower: float | None = None
    alert_upper: float | None = None
    alert: bool = False

    @property
    def drop(self) -> float | None:
        """How much worse than reference (positive = worse), in the metric's units."""
        if self.estimate is None:
            return None
        d = self.reference - self.estimate
        return -d if self.metric in LOWER_IS_BETTER else d


class ChunkEstimate(BaseModel):
    key: str
    start: int
    end: int
    rows: int
    metrics: list[MetricEstimate]

    def get(self, metric: str) -> MetricEstimate | None:
        return next((m for m in self.metrics if m.metric == metric), None)


class PerformanceEstimate(BaseModel):
    task: Task
    method: Literal["CBPE", "DLE"]
    calibration: str = Field(description="isotonic, none (already calibrated) or n/a")
    classes: list[str] = Field(default_factory=list)
    reference_rows: int
    current_rows: int
    chunk_size: int
    skipped_rows: int = Field(0, description="current rows without a usable probability or prediction")
    reference_metrics: dict[str, float]
    overall: ChunkEstimate
    chunks: list[ChunkEstimate] = Field(default_factory=list)

    @property
    def alerts(self) -> list[MetricEstimate]:
        return [m for m in self.overall.metrics if m.alert]


class Columns(BaseModel):
    task: Literal["classifier", "regressor"]
    proba: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)
    prediction: str | None = None
    target: str
    features: list[str] = Field(default_factory=list)


class PerformanceResult(BaseModel):
    model: str
    service: str | None = None
    reference: str
    current: str
    columns: Columns
    labels: Literal["none", "partial", "all"] = Field(description="how much of the current window has labels yet")
    estimate: PerformanceEstimate

    def headline(self) -> MetricEstimate:
        """The metric to lead with: the first alerting one, else accuracy (MAE for regressors)."""
        ms = self.estimate.overall.metrics
        return next((m for m in ms if m.alert), ms[0])


class PerformanceBrief(BaseModel):
    """What model_status says about performance (or why it could not estimate it)."""

    current: str | None = None
    method: str | None = None
    headline: MetricEstimate | None = None
    alerts: list[MetricEstimate] = Field(default_factory=list)
    labels: str = "none"
    error: str | None = None

    @property
    def worse(self) -> list[MetricEstimate]:
        """Alerts in the bad direction (better than reference is no reason to retrain)."""
        return [m for m in self.alerts if is_worse(m)]


def is_worse(m: MetricEstimate) -> bool:
    if not m.alert or m.estimate is None:
        return False
    return m.estimate > (m.alert_upper or 0) if m.metric in LOWER_IS_BETTER else m.estimate < (m.alert_lower or 0)


def describe(m: MetricEstimate) -> str:
    """'estimated accuracy 0.84 (band 0.82–0.86) vs 0.91 on reference'."""
    if m.estimate is None:
        return f"{m.metric} cannot be estimated on this window"
    band = f" (band {m.lower:.2f}–{m.upper:.2f})" if m.lower is not None and m.upper is not None else ""
    real = f", realised {m.realised:.2f}" if m.realised is not None else ""
    return f"estimated {m.metric} {m.estimate:.2f}{band} vs {m.reference:.2f} on reference{real}"
