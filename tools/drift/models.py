"""Drift configuration and results: the pydantic shapes every surface reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Method = Literal["ks", "wasserstein", "psi", "jensenshannon", "chisquare", "chi2_contingency", "z"]
Kind = Literal["numeric", "categorical"]

P_VALUE_METHODS: frozenset[str] = frozenset({"ks", "chisquare", "chi2_contingency", "z"})


class DriftConfig(BaseModel):
    """Method choice and thresholds. The defaults are Evidently's (0.7.x), from
    evidentlyai/evidently `src/evidently/legacy/calculations/stattests/registry.py`
    (`_get_default_stattest`), the per-test `default_threshold`s beside it, and the
    DataDriftPreset `drift_share = 0.5`.
    """

    small_reference_rows: int = Field(1000, ge=1, description="≤ this many reference rows: p-value tests")
    numeric_min_unique: int = Field(5, ge=1, description="numeric needs more distinct values than this")
    int_cardinality_limit: int = Field(10, ge=0, description="an integer column with ≤ this many values is categorical")
    p_value_threshold: float = Field(0.05, gt=0, lt=1)
    distance_threshold: float = Field(0.1, gt=0, description="Wasserstein (normed) and Jensen–Shannon")
    psi_threshold: float = Field(0.1, gt=0)
    drift_share: float = Field(0.5, gt=0, le=1, description="dataset drift when this share of features drift")
    std_floor: float = Field(0.001, gt=0, description="Wasserstein is divided by max(std(ref), this)")
    psi_eps: float = Field(1e-4, gt=0, description="share given to an empty bin")
    numeric_binning: Literal["sturges", "quantile"] = "sturges"
    quantile_bins: int = Field(10, ge=2, le=1000)
    numeric_method: Method | None = None  # override for every numeric feature
    categorical_method: Method | None = None  # override for every categorical feature
    column_methods: dict[str, Method] = Field(default_factory=dict)
    column_thresholds: dict[str, float] = Field(default_factory=dict)
    numerical: list[str] = Field(default_factory=list, description="force these columns numeric")
    categorical: list[str] = Field(default_factory=list, description="force these columns categorical")
    ignore: list[str] = Field(default_factory=list)

    def threshold_for(self, column: str, method: str) -> float:
        if column in self.column_thresholds:
            return self.column_thresholds[column]
        if method in P_VALUE_METHODS:
            return self.p_value_threshold
        if method == "psi":
            return self.psi_threshold
        return self.distance_threshold


class FeatureDrift(BaseModel):
    column: str
    kind: Kind
    method: Method
    score: float
    threshold: float
    drifted: bool
    severity: float = Field(description="how far past (>1) or short of (<1) the threshold; sorts worst first")
    scores: dict[str, float] = Field(default_factory=dict, description="every test computed for this column")
    n_reference: int
    n_current: int
    n_unique: int
    missing_reference: int = 0
    missing_current: int = 0
    unseen_categories: list[str] = Field(default_factory=list, description="in current, not in reference (first 10)")
    unseen_count: int = 0
    unseen_share: float = 0.0
    reference_mean: float | None = None
    current_mean: float | None = None

    @property
    def missing_share_current(self) -> float:
        total = self.n_current + self.missing_current
        return self.missing_current / total if total else 0.0


class SkippedColumn(BaseModel):
    column: str
    reason: str


class DriftReport(BaseModel):
    reference_rows: int
    current_rows: int
    features: list[FeatureDrift] = Field(description="worst first")
    prediction: FeatureDrift | None = None
    skipped: list[SkippedColumn] = Field(default_factory=list)
    n_features: int
    n_drifted: int
    share_drifted: float
    drift_share_threshold: float
    dataset_drift: bool
    method_rule: str = Field(description="how the test per column was chosen, for the reader")

    def drifted_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]
