"""Known answers for the drift statistics: hand-computed tables and scipy to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon as scipy_js

from tools.drift import DriftConfig, compute_drift, stats
from tools.drift.engine import DriftInputError, categorical_drift, numeric_drift

TOL = 1e-9


def test_psi_by_hand() -> None:
    # shares .5/.3/.2 -> .4/.3/.3: 0.1·ln(.5/.4) + 0 + (−0.1)·ln(.2/.3)
    expected = 0.1 * math.log(0.5 / 0.4) - 0.1 * math.log(0.2 / 0.3)
    assert stats.psi(np.array([50, 30, 20]), np.array([40, 30, 30])) == pytest.approx(expected, abs=1e-15)
    assert expected == pytest.approx(0.0628608659, abs=1e-10)


def test_psi_fills_an_empty_bin_with_1e_4() -> None:
    # reference [1, 0] -> [1, 1e-4]; current [.5, .5]
    expected = (1 - 0.5) * math.log(1 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    assert stats.psi(np.array([10, 0]), np.array([5, 5])) == pytest.approx(expected, abs=1e-12)


def test_psi_tiny_shares_use_evidently_rule() -> None:
    # smallest non-zero share 5e-5 ≤ 1e-4, so an empty bin gets 5e-5 / 1e6
    filled = stats.fill_empty(np.array([0.99995, 0.00005, 0.0]))
    assert filled[2] == pytest.approx(5e-11)


def test_jensenshannon_by_hand() -> None:
    assert stats.jensenshannon(np.array([1, 0]), np.array([0, 1])) == pytest.approx(math.sqrt(math.log(2)))
    # p = (.5, .5), q = (1, 0), m = (.75, .25)
    kl_p = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    kl_q = math.log(1 / 0.75)
    assert stats.jensenshannon(np.array([5, 5]), np.array([3, 0])) == pytest.approx(math.sqrt((kl_p + kl_q) / 2))
    # natural log, not base 2: base 2 would be 1/sqrt(ln 2) ≈ 1.2 times larger
    assert stats.jensenshannon(np.array([1, 0]), np.array([0, 1]), base=2) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(5))
def test_jensenshannon_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p, q = rng.integers(0, 50, 12), rng.integers(0, 50, 12)
    assert stats.jensenshannon(p, q) == pytest.approx(scipy_js(p, q), abs=TOL)


@pytest.mark.parametrize(("n", "m", "ties"), [(50, 80, False), (900, 400, True), (12000, 15000, False), (20000, 11000, True)])
def test_ks_and_wasserstein_match_scipy(n: int, m: int, ties: bool) -> None:
    rng = np.random.default_rng(n + m)
    ref, cur = rng.normal(0, 1, n), rng.normal(0.05, 1.1, m)
    if ties:
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    pair = stats.NumericPair.build(ref, cur)
    expected = sps.ks_2samp(ref, cur)
    assert pair.ks_statistic() == pytest.approx(expected.statistic, abs=TOL)
    assert pair.ks_pvalue() == pytest.approx(expected.pvalue, abs=TOL)
    assert pair.wasserstein() == pytest.approx(sps.wasserstein_distance(ref, cur), rel=TOL)
    norm = max(float(np.std(ref)), 0.001)
    assert pair.wasserstein_norm() == pytest.approx(sps.wasserstein_distance(ref, cur) / norm, rel=TOL)
    keys, rc, cc = pair.value_counts()
    assert np.array_equal(keys, np.unique(np.concatenate([ref, cur])))
    assert rc.sum() == n and cc.sum() == m


def test_histogram_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(0, 1, 5000), rng.normal(0.3, 1, 3000)
    pair = stats.NumericPair.build(ref, cur)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    rc, cc = pair.binned_counts()
    assert np.array_equal(rc, np.histogram(ref, edges)[0])
    assert np.array_equal(cc, np.histogram(cur, edges)[0])
    q_ref, q_cur = pair.binned_counts("quantile", 10)
    assert q_ref.sum() == 5000 and q_cur.sum() == 3000
    assert q_ref.min() >= 499 and q_ref.max() <= 501  # deciles of the reference


@pytest.mark.parametrize("k", [2, 3, 7])
def test_chi2_contingency_matches_scipy(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(5):
        ref, cur = rng.integers(5, 200, k), rng.integers(5, 200, k)
        expected = sps.chi2_contingency(np.vstack([ref, cur])).pvalue
        assert stats.chi2_contingency_pvalue(ref, cur) == pytest.approx(expected, abs=TOL)


def test_chisquare_goodness_of_fit_matches_scipy() -> None:
    rng = np.random.default_rng(11)
    ref, cur = rng.integers(20, 300, 6), rng.integers(20, 300, 6)
    f_exp = ref * cur.sum() / ref.sum()
    assert stats.chisquare_gof_pvalue(ref, cur) == pytest.approx(sps.chisquare(cur, f_exp).pvalue, abs=TOL)
    # a category the reference never had: expected 0, observed > 0 -> p = 0
    assert stats.chisquare_gof_pvalue(np.array([10, 10, 0]), np.array([10, 10, 1])) == 0.0


def test_z_test_by_hand() -> None:
    # 30/100 vs 50/100: pooled .4, z = −.2 / sqrt(.4·.6·(2/100))
    z = -0.2 / math.sqrt(0.4 * 0.6 * 0.02)
    expected = 2 * (1 - sps.norm.cdf(abs(z)))
    assert stats.z_test_pvalue(np.array([70, 30]), np.array([50, 50])) == pytest.approx(expected, abs=1e-12)
    assert stats.z_test_pvalue(np.array([10, 0]), np.array([7, 0])) == 1.0
    with pytest.raises(ValueError):
        stats.z_test_pvalue(np.array([1, 2, 3]), np.array([1, 2, 3]))


def test_missing_values_and_unseen_categories_are_reported() -> None:
    ref = pd.Series(["a", "b", "c", None] * 50)
    cur = pd.Series(["a", "b", "d", "d", "e", None, None, None] * 25)
    result = categorical_drift("colour", ref, cur, DriftConfig())
    assert result.missing_reference == 50 and result.missing_current == 75
    assert result.unseen_categories == ["d", "e"]
    assert result.unseen_count == 2
    assert result.unseen_share == pytest.approx(75 / 125)
    assert result.method == "chisquare" and result.drifted  # 200 reference rows: chi-square
    num = numeric_drift("x", pd.Series([1.0, 2.0, np.nan, np.inf] * 10), pd.Series([1.0, np.nan] * 10), DriftConfig())
    assert num.missing_reference == 20 and num.missing_current == 10


def test_method_choice_follows_evidently_defaults() -> None:
    rng = np.random.default_rng(0)

    def frame(n: int, shift: float = 0.0) -> pd.DataFrame:
        return pd.DataFrame({
            "x": rng.normal(shift, 1, n),
            "few": rng.integers(0, 4, n).astype(float),  # ≤ 5 distinct numeric values
            "flag": rng.integers(0, 2, n).astype(float),
            "cat": rng.choice(["p", "q", "r"], n),
            "id": [f"u{i}" for i in range(n)],  # free text: skipped as Evidently does
        })

    small = compute_drift(frame(800), frame(500, 1.0), target="x")
    assert {f.column: f.method for f in small.features} == {"few": "chisquare", "flag": "z", "cat": "chisquare"}
    assert small.prediction is not None and small.prediction.method == "ks" and small.prediction.drifted
    assert [s.column for s in small.skipped] == ["id"]
    big = compute_drift(frame(3000), frame(2000, 1.0))
    methods = {f.column: f.method for f in big.features}
    assert methods == {"x": "wasserstein", "few": "jensenshannon", "flag": "jensenshannon", "cat": "jensenshannon"}
    assert big.features[0].column == "x" and big.n_drifted == 1  # worst first
    assert big.share_drifted == pytest.approx(0.25) and not big.dataset_drift
    assert compute_drift(frame(3000), frame(2000, 1.0), DriftConfig(drift_share=0.25)).dataset_drift


def test_overrides_and_thresholds_are_configurable() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 3000), "c": rng.choice(list("ab"), 3000)})
    cur = pd.DataFrame({"x": rng.normal(0.05, 1, 3000), "c": rng.choice(list("ab"), 3000)})
    default = compute_drift(ref, cur)
    assert not any(f.drifted for f in default.features)
    strict = compute_drift(ref, cur, DriftConfig(numeric_method="psi", column_thresholds={"x": 0.001}))
    x = next(f for f in strict.features if f.column == "x")
    assert x.method == "psi" and x.threshold == 0.001 and x.drifted
    with pytest.raises(DriftInputError):
        compute_drift(ref, cur, columns=["nope"])
    bad = compute_drift(ref, cur, DriftConfig(column_methods={"c": "ks"}))
    assert bad.skipped and "categorical" in bad.skipped[0].reason


def test_columns_on_one_side_only_are_reported() -> None:
    ref = pd.DataFrame({"a": np.arange(50.0), "gone": np.arange(50.0)})
    cur = pd.DataFrame({"a": np.arange(50.0), "new": np.arange(50.0)})
    report = compute_drift(ref, cur)
    assert [f.column for f in report.features] == ["a"]
    assert {s.column: s.reason for s in report.skipped} == {
        "gone": "not in the current data", "new": "not in the reference data"}


def test_parallel_and_serial_give_the_same_report() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({f"x{i}": rng.normal(0, 1, 2000) for i in range(4)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.1 * i, 1, 2000) for i in range(4)})
    assert compute_drift(ref, cur, workers=1) == compute_drift(ref, cur, workers=3)


def test_pandas_dtypes_are_typed_as_evidently_does() -> None:
    rng = np.random.default_rng(0)
    n = 3000

    def frame(shift: int) -> pd.DataFrame:
        d = pd.DataFrame({
            "i64": pd.array(rng.integers(0, 100, n) + 10 * shift, dtype="Int64"),
            "few_ints": rng.integers(0, 4, n),  # ≤ 10 distinct integers: categorical
            "flag": pd.array(rng.random(n) < 0.3 + 0.2 * shift, dtype="boolean"),
            "s": pd.array(rng.choice(["x", "y", "z"], n), dtype="string"),
            "cat": pd.Categorical(rng.choice(["p", "q"], n)),
            "at": pd.date_range("2026-01-01", periods=n, freq="h"),
            "mixed": np.array([1, "a"] * (n // 2), dtype=object),
        })
        d.loc[:10, "i64"] = pd.NA
        return d

    report = compute_drift(frame(0), frame(1))
    by = {f.column: f for f in report.features}
    assert {c: (f.kind, f.method) for c, f in by.items()} == {
        "i64": ("numeric", "wasserstein"), "few_ints": ("categorical", "jensenshannon"),
        "flag": ("categorical", "jensenshannon"), "s": ("categorical", "jensenshannon"),
        "cat": ("categorical", "jensenshannon"),
    }
    assert by["i64"].drifted and by["flag"].drifted and not by["s"].drifted
    assert by["i64"].missing_reference == 11
    assert {s.column for s in report.skipped} == {"at", "mixed"}
