"""Model status: the live version per alias, its metrics against the version it replaced,
its age, the last drift result, and a plain keep / investigate / retrain with the reasons.

`assess()` is pure: registry rows and a drift report in, a ModelStatus out.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.drift.models import DriftReport
from tools.mlops.perf_models import PerformanceBrief, describe
from tools.timeutil import from_epoch

Recommendation = Literal["keep", "investigate", "retrain"]
LIVE_ALIASES = ("champion", "production", "prod", "live")
_LOWER_IS_BETTER = re.compile(r"(loss|error|err\b|rmse|mae|mse|mape|brier|perplexity|latency|_ms\b|fpr)", re.I)


class StatusPolicy(BaseModel):
    """When to say investigate or retrain. Thresholds are ours, stated in every reason."""

    metric_drop: float = Field(0.05, gt=0, description="relative worsening vs previous version → investigate")
    max_age_days: float = Field(90, gt=0, description="older than this since training → investigate")
    retrain_age_days: float = Field(180, gt=0, description="older than this → retrain")
    drift_stale_days: float = Field(7, gt=0, description="no drift check this recent → investigate")
    missing_share: float = Field(0.2, gt=0, le=1, description="a feature missing this often → investigate")
    unseen_share: float = Field(0.1, gt=0, le=1, description="current rows in unseen categories → investigate")


class MetricChange(BaseModel):
    key: str
    value: float
    previous: float | None = None
    relative_change: float | None = None
    better: bool | None = None
    higher_is_better: bool


class VersionStatus(BaseModel):
    alias: str | None = Field(description="alias, or None for a legacy stage / latest version")
    version: str
    stage: str | None = None
    trained_at: datetime | None = None
    age_days: float | None = None
    training_data: str | None = None
    run_id: str | None = None
    previous_version: str | None = None
    metrics: list[MetricChange] = Field(default_factory=list)


class FeatureBrief(BaseModel):
    column: str
    method: str
    score: float
    threshold: float
    drifted: bool


class DriftSummary(BaseModel):
    computed_at: datetime
    age_hours: float
    reference: str | None = None
    current: str | None = None
    n_features: int
    n_drifted: int
    share_drifted: float
    dataset_drift: bool
    prediction_drifted: bool | None = None
    top: list[FeatureBrief] = Field(default_factory=list, description="worst first, at most five")


class RetrainBrief(BaseModel):
    id: str
    status: str
    requested_at: datetime
    new_version: str | None = None
    registered: bool = False
    promoted: bool = False


class ModelOps(BaseModel):
    """The seeds' MLOps KPIs for one model: retraining frequency and success, lineage."""

    retrains_90d: int = 0
    per_month: float = 0.0
    succeeded: int = 0
    failed: int = 0
    open_runs: int = 0
    success_rate: float | None = Field(None, description="succeeded / finished runs")
    last: RetrainBrief | None = None
    versions_with_lineage: int = 0
    n_versions: int = 0
    lineage_coverage: float | None = Field(None, description="versions with training-data and run references")


def model_ops(runs: list[dict[str, Any]], versions: list[dict[str, Any]], alias_histories: dict[str, list[dict[str, Any]]],
              now: datetime) -> ModelOps:
    """Pure: retrain runs (newest first) and registry rows in, KPIs out. A run's new version
    counts as registered when the registry has it, promoted when an alias ever pointed at it."""
    horizon = now.timestamp() - 90 * 86400
    recent = [r for r in runs if r["requested_at"] >= horizon]
    known = {str(v["version"]) for v in versions}
    aliased = {str(h["version"]) for hist in alias_histories.values() for h in hist}
    ok = sum(r["status"] == "succeeded" for r in runs)
    bad = sum(r["status"] == "failed" for r in runs)
    last = None
    if runs:
        r = runs[0]
        at = from_epoch(r["requested_at"])
        assert at is not None
        nv = r.get("new_version")
        last = RetrainBrief(id=r["id"], status=r["status"], requested_at=at, new_version=nv,
                            registered=nv is not None and str(nv) in known, promoted=nv is not None and str(nv) in aliased)
    lineage = sum(bool(v.get("training_data")) and bool(v.get("run_id")) for v in versions)
    return ModelOps(
        retrains_90d=len(recent), per_month=len(recent) / 3.0, succeeded=ok, failed=bad,
        open_runs=sum(r["status"] in ("requested", "started") for r in runs),
        success_rate=ok / (ok + bad) if ok + bad else None, last=last,
        versions_with_lineage=lineage, n_versions=len(versions),
        lineage_coverage=lineage / len(versions) if versions else None,
    )


class ModelStatus(BaseModel):
    name: str
    service: str | None = None
    team: str | None = None
    source: str = "local"
    live: VersionStatus | None = Field(description="champion alias, else Production stage, else the newest version")
    aliases: list[VersionStatus] = Field(default_factory=list)
    n_versions: int
    drift: DriftSummary | None = None
    performance: PerformanceBrief | None = Field(None, description="estimated without labels on the newest window")
    ops: ModelOps | None = None
    suggested_actions: list[dict[str, Any]] = Field(
        default_factory=list, description="retrain_model when the recommendation is retrain (approval needed)")
    recommendation: Recommendation
    reasons: list[str]
    checked_at: datetime


def higher_is_better(metric: str) -> bool:
    return not _LOWER_IS_BETTER.search(metric)


def _metric_changes(current: dict[str, float], previous: dict[str, float] | None) -> list[MetricChange]:
    out = []
    for key in sorted(current):
        value = current[key]
        hib = higher_is_better(key)
        prev = None if previous is None else previous.get(key)
        rel = better = None
        if prev is not None:
            rel = (value - prev) / abs(prev) if prev != 0 else None
            better = None if value == prev else (value > prev) == hib
        out.append(MetricChange(key=key, value=value, previous=prev, relative_change=rel, better=better, higher_is_better=hib))
    return out


def _previous_version(version: str, alias: str | None, history: list[dict[str, Any]], ordered: list[str]) -> str | None:
    """The version the alias held before this one; else the version registered before it."""
    if alias is not None:
        for row in history:
            if row["version"] != version:
                return row["version"]
    if version in ordered:
        i = ordered.index(version)
        return ordered[i - 1] if i > 0 else None
    return None


def assess(
    model: dict[str, Any],
    versions: list[dict[str, Any]],
    metrics: dict[str, dict[str, float]],
    aliases: dict[str, dict[str, Any]],
    alias_histories: dict[str, list[dict[str, Any]]],
    drift_row: dict[str, Any] | None,
    now: datetime,
    policy: StatusPolicy | None = None,
    *,
    performance: PerformanceBrief | None = None,
    runs: list[dict[str, Any]] | None = None,
) -> ModelStatus:
    policy = policy or StatusPolicy()
    by_version = {v["version"]: v for v in versions}
    ordered = [v["version"] for v in versions]

    def status_of(version: str, alias: str | None) -> VersionStatus:
        row = by_version.get(version, {})
        trained = from_epoch(row.get("trained_at") or row.get("registered_at"))
        prev = _previous_version(version, alias, alias_histories.get(alias or "", []), ordered)
        return VersionStatus(
            alias=alias,
            version=version,
            stage=row.get("stage"),
            trained_at=trained,
            age_days=None if trained is None else (now - trained).total_seconds() / 86400,
            training_data=row.get("training_data"),
            run_id=row.get("run_id"),
            previous_version=prev,
            metrics=_metric_changes(metrics.get(version, {}), metrics.get(prev) if prev else None),
        )

    alias_rows = [status_of(a["version"], name) for name, a in aliases.items()]
    live = next((s for name in LIVE_ALIASES for s in alias_rows if s.alias == name), None)
    if live is None:  # MLflow's deprecated stages, then the newest version
        staged = [v for v in versions if v.get("stage") == "Production"]
        if staged:
            live = status_of(staged[-1]["version"], None)
        elif alias_rows:
            live = alias_rows[0]
        elif versions:
            live = status_of(versions[-1]["version"], None)

    drift = _drift_summary(drift_row, now) if drift_row else None
    recommendation, reasons = _recommend(live, drift, drift_row, policy, performance)
    return ModelStatus(
        name=model["name"],
        service=model.get("service"),
        team=model.get("team"),
        source=model.get("source") or "local",
        live=live,
        aliases=alias_rows,
        n_versions=len(versions),
        drift=drift,
        performance=performance,
        ops=model_ops(runs or [], versions, alias_histories, now),
        suggested_actions=_retrain_suggestion(model["name"], live, recommendation, reasons, runs or []),
        recommendation=recommendation,
        reasons=reasons,
        checked_at=now,
    )


def _retrain_suggestion(name: str, live: VersionStatus | None, recommendation: str, reasons: list[str],
                        runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Offer retrain_model (a human approves it) unless a run is already under way."""
    if recommendation != "retrain" or any(r["status"] in ("requested", "started") for r in runs):
        return []
    args: dict[str, Any] = {"model": name, "reason": _plain(reasons[0])[:500], "evidence": _plain("; ".join(reasons[1:4]))[:2000]}
    if live is not None:
        args["version"] = live.version
    return [{"action": "retrain_model", "args": args, "reason": _plain(reasons[0])[:500]}]


def _plain(text: str) -> str:
    """`text` as retrain_model's plain-text reason: what it refuses is blanked out."""
    from tools.actions.retrain import NOT_PLAIN

    return NOT_PLAIN.sub(" ", text)


def _drift_summary(row: dict[str, Any], now: datetime) -> DriftSummary:
    report = DriftReport.model_validate_json(row["report"])
    at = from_epoch(row["computed_at"])
    assert at is not None
    return DriftSummary(
        computed_at=at,
        age_hours=(now - at).total_seconds() / 3600,
        reference=row.get("reference"),
        current=row.get("current"),
        n_features=report.n_features,
        n_drifted=report.n_drifted,
        share_drifted=report.share_drifted,
        dataset_drift=report.dataset_drift,
        prediction_drifted=None if report.prediction is None else report.prediction.drifted,
        top=[
            FeatureBrief(column=f.column, method=f.method, score=f.score, threshold=f.threshold, drifted=f.drifted)
            for f in report.features[:5]
        ],
    )


def _recommend(
    live: VersionStatus | None, drift: DriftSummary | None, drift_row: dict[str, Any] | None, policy: StatusPolicy,
    performance: PerformanceBrief | None = None,
) -> tuple[Recommendation, list[str]]:
    """Estimated performance outranks drift: a drop below the reference's alert range is the
    first reason to retrain, and input drift with performance holding is only investigated."""
    retrain: list[str] = []
    investigate: list[str] = []
    if live is None:
        return "investigate", ["no version is registered"]
    holding = False
    if performance is not None:
        if performance.error:
            investigate.append(f"performance cannot be estimated: {performance.error}")
        elif performance.worse:
            retrain.extend(f"{describe(m)}, below the reference's alert range" for m in performance.worse[:2])
        elif performance.alerts:  # better than the reference could ever be: the scores moved, not the model
            investigate.append(f"{describe(performance.alerts[0])}, above the reference's range: the scores moved, "
                               "and an estimate holds only while they stay calibrated")
        elif performance.headline is not None:
            holding = True
    if drift is None:
        investigate.append("never checked for drift")
    else:
        drifted = [f.column for f in drift.top if f.drifted]
        if drift.dataset_drift and holding and performance is not None and performance.headline is not None:
            investigate.append(
                f"input drift: {drift.n_drifted} of {drift.n_features} features drifted, but "
                f"{describe(performance.headline)} holds — worst: {', '.join(drifted[:3])}")
        elif drift.dataset_drift:
            retrain.append(
                f"input drift: {drift.n_drifted} of {drift.n_features} features drifted "
                f"({drift.share_drifted:.0%} ≥ the dataset threshold) — worst: {', '.join(drifted[:3])}"
            )
        elif drift.n_drifted:
            investigate.append(f"{drift.n_drifted} of {drift.n_features} features drifted: {', '.join(drifted[:3])}")
        if drift.prediction_drifted:
            (investigate if holding else retrain).append("the model's predictions drifted")
        if drift.age_hours > policy.drift_stale_days * 24:
            investigate.append(f"last drift check is {drift.age_hours / 24:.0f} days old")
        if drift_row is not None:
            report = DriftReport.model_validate_json(drift_row["report"])
            for f in report.features:
                if f.missing_share_current >= policy.missing_share:
                    investigate.append(f"{f.column} is missing in {f.missing_share_current:.0%} of current rows")
                if f.unseen_share >= policy.unseen_share:
                    investigate.append(f"{f.unseen_share:.0%} of current {f.column} values are unseen categories")
    if live.age_days is not None:
        if live.age_days > policy.retrain_age_days:
            retrain.append(f"trained {live.age_days:.0f} days ago (> {policy.retrain_age_days:.0f})")
        elif live.age_days > policy.max_age_days:
            investigate.append(f"trained {live.age_days:.0f} days ago (> {policy.max_age_days:.0f})")
    for m in live.metrics:
        if m.better is False and m.relative_change is not None and abs(m.relative_change) >= policy.metric_drop:
            investigate.append(
                f"{m.key} {m.value:.4g} is {abs(m.relative_change):.1%} worse than v{live.previous_version} ({m.previous:.4g})"
            )
    if retrain:
        return "retrain", retrain + investigate
    if investigate:
        return "investigate", investigate
    return "keep", ["no drift over threshold, metrics at least as good as the previous version, trained recently"]
