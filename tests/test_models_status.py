"""keep / investigate / retrain from registry rows and a drift report (pure `assess`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from tools.drift import compute_drift
from tools.mlops.status import StatusPolicy, assess, higher_is_better

NOW = datetime(2026, 11, 20, tzinfo=UTC)
MODEL = {"name": "m", "service": "search", "source": "local"}


def _versions(age_days: float) -> list[dict]:
    return [
        {"version": "1", "trained_at": (NOW - timedelta(days=age_days + 30)).timestamp(), "stage": None},
        {"version": "2", "trained_at": (NOW - timedelta(days=age_days)).timestamp(), "stage": None},
    ]


def _drift_row(shift: float, hours_ago: float = 2, missing: float = 0.0) -> dict:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({f"x{i}": rng.normal(0, 1, 2000) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": rng.normal(shift if i < 3 else 0, 1, 2000) for i in range(4)})
    if missing:
        cur.loc[: int(missing * 2000) - 1, "x3"] = np.nan
    report = compute_drift(ref, cur)
    return {"report": report.model_dump_json(), "computed_at": (NOW - timedelta(hours=hours_ago)).timestamp(),
            "reference": "ref", "current": "cur"}


def _assess(age_days: float = 10, metrics: dict | None = None, drift: dict | None = None, policy: StatusPolicy | None = None):  # type: ignore[no-untyped-def]
    metrics = metrics or {"1": {"auc": 0.80}, "2": {"auc": 0.81}}
    aliases = {"champion": {"version": "2"}}
    history = {"champion": [{"version": "2"}, {"version": "1"}]}
    return assess(MODEL, _versions(age_days), metrics, aliases, history, drift, NOW, policy)


def test_keep_when_fresh_stable_and_no_worse() -> None:
    s = _assess(drift=_drift_row(0.0))
    assert s.recommendation == "keep" and s.live is not None and s.live.previous_version == "1"


def test_investigate_reasons() -> None:
    assert _assess().reasons == ["never checked for drift"]
    worse = _assess(metrics={"1": {"auc": 0.80}, "2": {"auc": 0.75}}, drift=_drift_row(0.0))
    assert worse.recommendation == "investigate" and "auc 0.75 is 6.3% worse than v1 (0.8)" in worse.reasons[0]
    slightly = _assess(metrics={"1": {"auc": 0.80}, "2": {"auc": 0.79}}, drift=_drift_row(0.0))
    assert slightly.recommendation == "keep"  # 1.2 % < the 5 % policy
    old = _assess(age_days=100, drift=_drift_row(0.0))
    assert old.recommendation == "investigate" and old.reasons == ["trained 100 days ago (> 90)"]
    stale = _assess(drift=_drift_row(0.0, hours_ago=24 * 9))
    assert stale.recommendation == "investigate" and "9 days old" in stale.reasons[0]
    holes = _assess(drift=_drift_row(0.0, missing=0.3))
    assert any("x3 is missing in 30% of current rows" in r for r in holes.reasons)


def test_retrain_on_dataset_drift_or_great_age() -> None:
    drifted = _assess(drift=_drift_row(1.0))
    assert drifted.recommendation == "retrain"
    assert drifted.reasons[0].startswith("input drift: 3 of 4 features drifted (75% ≥ the dataset threshold)")
    assert _assess(age_days=200, drift=_drift_row(0.0)).recommendation == "retrain"
    assert _assess(age_days=200, drift=_drift_row(0.0), policy=StatusPolicy(retrain_age_days=365)).recommendation == "investigate"


def test_metric_direction_from_its_name() -> None:
    assert higher_is_better("ndcg@10") and higher_is_better("auc") and higher_is_better("recall")
    assert not any(map(higher_is_better, ["val_loss", "rmse", "logloss", "p95_latency_ms", "error_rate", "mae"]))
