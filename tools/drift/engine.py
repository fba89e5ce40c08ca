"""Reference vs current data frames -> a DriftReport, column by column.

Column types and the default test per column follow Evidently 0.7 so that verdicts agree:
- type (evidently `core/datasets.py infer_column_type`, read on the reference): float ->
  numeric; integer -> categorical if it has ≤ 10 distinct values, else numeric; bool and
  pandas category -> categorical; strings -> categorical, or text (skipped here) when more
  than half the values are distinct; datetimes are skipped.
- test (evidently `legacy/calculations/stattests/registry.py _get_default_stattest`), with
  n = distinct values over reference ∪ current: reference ≤ 1000 rows -> numeric with
  n > 5: KS; otherwise chi-square, or the Z-test when n ≤ 2; reference > 1000 rows ->
  numeric with n > 5: Wasserstein (normed); otherwise Jensen–Shannon.
- missing and infinite values are dropped before testing and reported
  (evidently `legacy/calculations/data_drift.py get_one_column_drift`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import pandas as pd

from tools.drift import stats
from tools.drift.models import (
    P_VALUE_METHODS,
    DriftConfig,
    DriftReport,
    FeatureDrift,
    Kind,
    Method,
    SkippedColumn,
)
from tools.errors import DriftInputError

METHOD_RULE = (
    "Evidently defaults: reference ≤ {small} rows → KS for numeric with > {k} values, "
    "else chi-square (Z-test for ≤ 2 values), drift at p < {p}; reference > {small} rows → "
    "Wasserstein distance / std(ref) for numeric with > {k} values, else Jensen–Shannon "
    "distance, drift at ≥ {d}; dataset drift when ≥ {share:.0%} of features drift."
)
_PARALLEL_MIN_ROWS = 200_000
_NUMERIC_ONLY: frozenset[str] = frozenset({"ks", "wasserstein"})
_MAX_SEVERITY = 1e6




def column_kind(series: pd.Series, config: DriftConfig) -> Kind | str:
    """'numeric', 'categorical', 'text?' (strings: categorical unless mostly distinct), or
    'skipped: <reason>'."""
    name = str(series.name)
    if name in config.numerical:
        return "numeric"
    if name in config.categorical:
        return "categorical"
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_float_dtype(dtype):
        return "numeric"
    if pd.api.types.is_integer_dtype(dtype):
        return "categorical" if series.nunique() <= config.int_cardinality_limit else "numeric"
    if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.DatetimeTZDtype):
        return "skipped: a timestamp column"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        first, last = series.first_valid_index(), series.last_valid_index()
        if first is None:
            return "skipped: no values in the reference"
        if not (isinstance(series[first], str) and isinstance(series[last], str)):
            return "skipped: mixed or unsupported values"
        return "text?"  # categorical unless most values are distinct: see categorical_drift
    return f"skipped: unsupported type {dtype}"


def default_method(kind: Kind, n_reference: int, n_unique: int, config: DriftConfig) -> Method:
    if n_reference <= config.small_reference_rows:
        if kind == "numeric" and n_unique > config.numeric_min_unique:
            return "ks"
        return "chisquare" if n_unique > 2 else "z"
    if kind == "numeric" and n_unique > config.numeric_min_unique:
        return "wasserstein"
    return "jensenshannon"


def choose_method(column: str, kind: Kind, n_reference: int, n_unique: int, config: DriftConfig) -> Method:
    method = config.column_methods.get(column) or (
        config.numeric_method if kind == "numeric" else config.categorical_method
    )
    if method is None:
        return default_method(kind, n_reference, n_unique, config)
    if kind == "categorical" and method in _NUMERIC_ONLY:
        raise DriftInputError(f"Column '{column}' is categorical; {method} needs numbers.")
    return method


def is_drifted(method: str, score: float, threshold: float) -> bool:
    if method == "ks":
        return score <= threshold  # evidently ks_stattest.py: p_value <= threshold
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


def severity(method: str, score: float, threshold: float) -> float:
    if method in P_VALUE_METHODS:
        return _MAX_SEVERITY if score <= 0 else min(_MAX_SEVERITY, threshold / score)
    return min(_MAX_SEVERITY, score / threshold)


def _numeric_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """Finite float values and how many were missing or infinite."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    n_finite = int(np.count_nonzero(finite))
    if n_finite == values.size:
        return values, 0
    return values[finite], int(values.size - n_finite)


def _discrete_scores(
    method: Method, ref_counts: np.ndarray, cur_counts: np.ndarray, config: DriftConfig
) -> dict[str, float]:
    scores = {
        "chisquare": stats.chisquare_gof_pvalue(ref_counts, cur_counts),
        "chi2_contingency": stats.chi2_contingency_pvalue(ref_counts, cur_counts),
        "jensenshannon": stats.jensenshannon(ref_counts, cur_counts),
        "psi": stats.psi(ref_counts, cur_counts, config.psi_eps),
    }
    if np.count_nonzero((ref_counts + cur_counts) > 0) <= 2:
        scores["z"] = stats.z_test_pvalue(ref_counts, cur_counts)
    return scores


def numeric_drift(column: str, ref: pd.Series, cur: pd.Series, config: DriftConfig) -> FeatureDrift:
    ref_values, ref_missing = _numeric_values(ref)
    cur_values, cur_missing = _numeric_values(cur)
    if ref_values.size == 0 or cur_values.size == 0:
        side = "reference" if ref_values.size == 0 else "current"
        raise DriftInputError(f"Column '{column}' has no finite values in the {side} data.")
    pair = stats.NumericPair.build(ref_values, cur_values)
    n_unique = pair.n_unique()
    method = choose_method(column, "numeric", pair.n_ref, n_unique, config)
    ref_bins, cur_bins = pair.binned_counts(config.numeric_binning, config.quantile_bins)
    scores = {
        "ks": pair.ks_pvalue(),
        "ks_statistic": pair.ks_statistic(),
        "wasserstein": pair.wasserstein_norm(config.std_floor),
        "psi": stats.psi(ref_bins, cur_bins, config.psi_eps),
        "jensenshannon": stats.jensenshannon(ref_bins, cur_bins),
    }
    if method in ("chisquare", "chi2_contingency", "z") or n_unique <= config.numeric_min_unique:
        _, ref_counts, cur_counts = pair.value_counts()
        discrete = _discrete_scores(method, ref_counts, cur_counts, config)
        if method == "z" and "z" not in discrete:
            raise DriftInputError(f"Column '{column}' has {n_unique} values; the Z-test takes two at most.")
        scores.update({k: v for k, v in discrete.items() if k not in ("jensenshannon", "psi")})
    return _result(
        column, "numeric", method, scores, config,
        n_reference=pair.n_ref, n_current=pair.n_cur, n_unique=n_unique,
        missing_reference=ref_missing, missing_current=cur_missing,
        reference_mean=float(np.mean(pair.ref)), current_mean=float(np.mean(pair.cur)),
    )


class FreeText(DriftInputError):
    """A string column with more distinct values than half its rows: Evidently's text type."""


def categorical_drift(
    column: str, ref: pd.Series, cur: pd.Series, config: DriftConfig, *, text_rule: bool = False
) -> FeatureDrift:
    ref_codes, ref_labels = pd.factorize(ref, use_na_sentinel=True)
    # evidently core/datasets.py infer_column_type: strings with nunique > count/2 are text
    if text_rule and len(ref_labels) > np.count_nonzero(np.asarray(ref_codes) >= 0) * 0.5:
        raise FreeText("free text (more than half the values distinct)")
    cur_codes, cur_labels = pd.factorize(cur, use_na_sentinel=True)
    ref_codes = np.asarray(ref_codes)
    cur_codes = np.asarray(cur_codes)
    # Map current labels onto the reference's codes; unseen labels get new codes after them.
    where = pd.Index(ref_labels).get_indexer(pd.Index(cur_labels))
    unseen = where < 0
    where[unseen] = len(ref_labels) + np.arange(int(unseen.sum()))
    cur_codes = np.where(cur_codes >= 0, where[np.maximum(cur_codes, 0)], -1)
    n_categories = len(ref_labels) + int(unseen.sum())
    ref_all = np.bincount(ref_codes[ref_codes >= 0], minlength=n_categories)
    cur_all = np.bincount(cur_codes[cur_codes >= 0], minlength=n_categories)
    n_ref, n_cur = int(ref_all.sum()), int(cur_all.sum())
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current"
        raise DriftInputError(f"Column '{column}' has no values in the {side} data.")
    seen = (ref_all + cur_all) > 0
    ref_counts, cur_counts = ref_all[seen], cur_all[seen]
    n_unique = int(seen.sum())
    method = choose_method(column, "categorical", n_ref, n_unique, config)
    scores = _discrete_scores(method, ref_counts, cur_counts, config)
    if method == "z" and "z" not in scores:
        raise DriftInputError(f"Column '{column}' has {n_unique} categories; the Z-test takes two at most.")
    unseen_codes = np.arange(len(ref_labels), n_categories)
    unseen_counts = cur_all[unseen_codes]
    order = np.argsort(-unseen_counts, kind="stable")
    unseen_labels = [str(x) for x in np.asarray(cur_labels[unseen])[order][:10]]
    return _result(
        column, "categorical", method, scores, config,
        n_reference=n_ref, n_current=n_cur, n_unique=n_unique,
        missing_reference=int(np.count_nonzero(ref_codes < 0)),
        missing_current=int(np.count_nonzero(cur_codes < 0)),
        unseen_categories=unseen_labels, unseen_count=int(unseen_codes.size),
        unseen_share=float(unseen_counts.sum() / n_cur),
    )


def _result(
    column: str, kind: Kind, method: Method, scores: dict[str, float], config: DriftConfig, **extra: object
) -> FeatureDrift:
    score = scores[method]
    threshold = config.threshold_for(column, method)
    return FeatureDrift(
        column=column,
        kind=kind,
        method=method,
        score=score,
        threshold=threshold,
        drifted=is_drifted(method, score, threshold),
        severity=severity(method, score, threshold),
        scores={k: (v if math.isfinite(v) else float("inf")) for k, v in scores.items()},
        **extra,
    )


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    config: DriftConfig | None = None,
    *,
    target: str | None = None,
    columns: list[str] | None = None,
    workers: int | None = None,
) -> DriftReport:
    """Per-feature drift, dataset drift (share of drifted features) and prediction drift."""
    config = config or DriftConfig()
    if reference.empty or current.empty:
        raise DriftInputError("Reference and current data both need rows.")
    if target is not None and (target not in reference.columns or target not in current.columns):
        raise DriftInputError(
            f"Prediction column '{target}' is missing.",
        )
    wanted = columns or [c for c in reference.columns if c in current.columns]
    missing = [c for c in wanted if c not in reference.columns or c not in current.columns]
    if missing:
        raise DriftInputError(f"Columns not in both data sets: {', '.join(map(str, missing))}")
    wanted = [c for c in wanted if c not in config.ignore]
    if target is not None and target not in wanted:
        wanted.append(target)

    skipped: list[SkippedColumn] = []
    if columns is None:  # a feature that vanished (or appeared) is itself worth a line
        skipped += [SkippedColumn(column=str(c), reason="not in the current data")
                    for c in reference.columns if c not in current.columns and c not in config.ignore]
        skipped += [SkippedColumn(column=str(c), reason="not in the reference data")
                    for c in current.columns if c not in reference.columns and c not in config.ignore]
    jobs: list[tuple[str, Callable[[], FeatureDrift]]] = []
    for name in wanted:
        kind = column_kind(reference[name], config)
        if kind == "numeric":
            jobs.append((str(name), partial(numeric_drift, str(name), reference[name], current[name], config)))
        elif kind in ("categorical", "text?"):
            jobs.append((str(name), partial(categorical_drift, str(name), reference[name], current[name],
                                            config, text_rule=kind == "text?")))
        else:
            skipped.append(SkippedColumn(column=str(name), reason=str(kind).removeprefix("skipped: ")))

    results = _run(jobs, workers, len(reference) + len(current))
    features: list[FeatureDrift] = []
    prediction: FeatureDrift | None = None
    for name, outcome in results:
        if isinstance(outcome, DriftInputError):
            skipped.append(SkippedColumn(column=name, reason=str(outcome)))
        elif name == target:
            prediction = outcome
        else:
            features.append(outcome)
    features.sort(key=lambda f: (not f.drifted, -f.severity, f.column))
    n_drifted = sum(f.drifted for f in features)
    share = n_drifted / len(features) if features else 0.0
    return DriftReport(
        reference_rows=len(reference),
        current_rows=len(current),
        features=features,
        prediction=prediction,
        skipped=skipped,
        n_features=len(features),
        n_drifted=n_drifted,
        share_drifted=share,
        drift_share_threshold=config.drift_share,
        dataset_drift=bool(features) and share >= config.drift_share,
        method_rule=METHOD_RULE.format(
            small=config.small_reference_rows, k=config.numeric_min_unique,
            p=config.p_value_threshold, d=config.distance_threshold, share=config.drift_share,
        ),
    )


def _run(
    jobs: list[tuple[str, Callable[[], FeatureDrift]]], workers: int | None, rows: int
) -> list[tuple[str, FeatureDrift | DriftInputError]]:
    """Columns are independent and numpy's sorts release the GIL: use the cores on big data."""

    def one(job: tuple[str, Callable[[], FeatureDrift]]) -> tuple[str, FeatureDrift | DriftInputError]:
        name, func = job
        try:
            return name, func()
        except DriftInputError as exc:
            return name, exc

    if workers is None:
        workers = min(4, os.cpu_count() or 1) if rows >= _PARALLEL_MIN_ROWS else 1
    if workers <= 1 or len(jobs) <= 1:
        return [one(j) for j in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))
