"""Performance without labels: CBPE for classifiers, DLE for regressors (pure numpy/sklearn).

CBPE (confidence-based performance estimation, NannyML's method): calibrate the model's
probabilities on the labelled reference window (isotonic, only when cross-validated
calibration lowers the expected calibration error), then read every metric off the expected
confusion matrix of a chunk: a row predicted positive with calibrated probability p adds p to
TP and 1-p to FP. ROC AUC is the area under the expected ROC curve (rows ranked by the raw
score, weighted by p). DLE (direct loss estimation): a gradient-boosted model of |y - ŷ| on
reference features and ŷ, averaged over a chunk (the squared error as κ·(estimated |e|)²),
predicted once for a whole window and sliced into its chunks.

The band is estimate ± 3 sampling errors, the sampling error from reference (NannyML's
components: the spread of per-row contributions over √rows). The alert range is the
realised metric over reference chunks of the same size, mean ± 3 std (never narrower than
± 3 sampling errors, which it falls back to when the reference holds few chunks). Work is linear in rows except one
sort per chunk for AUC; calibration and loss models fit on at most MAX_FIT_ROWS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tools.errors import ToolError
from tools.mlops.perf_models import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    ChunkEstimate,
    MetricEstimate,
    PerformanceEstimate,
    Task,
)

MAX_FIT_ROWS = 200_000
BAND_SIGMAS = 3.0
THRESHOLD_SIGMAS = 3.0
MIN_CHUNKS = 6
_ECE_BINS = 10
_SEED = 42


class EstimateInputError(ToolError, ValueError):
    """Data performance cannot be estimated from (no probabilities, one class…); says why."""


# ---- expected and realised metrics (binary, one class vs rest) --------------------------


def _auc(score: np.ndarray, weight_pos: np.ndarray) -> float:
    """Area under the ROC curve of `score` where each row is positive with weight w and
    negative with 1 - w; with 0/1 weights it is the realised AUC (ties count one half)."""
    if score.size == 0:
        return float("nan")
    order = np.argsort(-score)  # ties are grouped below: no stable sort needed
    s, w = score[order], weight_pos[order]
    tps, fps = np.cumsum(w), np.cumsum(1.0 - w)
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # end of each run of tied scores
    tp, fp = np.r_[0.0, tps[last]], np.r_[0.0, fps[last]]
    if tp[-1] <= 0 or fp[-1] <= 0:
        return float("nan")
    return float(np.sum((fp[1:] - fp[:-1]) * (tp[1:] + tp[:-1])) / 2.0 / (tp[-1] * fp[-1]))


def _confusion(pos: np.ndarray, pred_pos: np.ndarray) -> tuple[float, float, float, float]:
    """(TP, FP, FN, TN) where `pos` is the (expected or realised) share positive per row."""
    tp = float(np.dot(pos, pred_pos))
    fp = float(pred_pos.sum()) - tp
    fn = float(pos.sum()) - tp
    tn = float(pos.size) - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(a: float, b: float) -> float:
    """0 for an empty denominator (no predicted or no actual positives): scikit-learn's
    zero_division=0, so estimate and realised agree on a chunk without positives."""
    return a / b if b > 0 else 0.0


def _binary_metrics(score: np.ndarray, pos: np.ndarray, pred_pos: np.ndarray) -> dict[str, float]:
    tp, fp, fn, tn = _confusion(pos, pred_pos)
    return {
        "accuracy": (tp + tn) / pos.size if pos.size else float("nan"),
        "roc_auc": _auc(score, pos),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


# ---- sampling error components (from reference labels) -----------------------------------


def _std_frac(values: np.ndarray, n: int) -> tuple[float, float]:
    return (float(np.std(values)) if values.size else 0.0), (values.size / n if n else 0.0)


def _binary_components(y: np.ndarray, score: np.ndarray, pred: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per metric (std of the per-row contribution, share of rows that contribute)."""
    n = y.size
    tp = (y == 1) & (pred == 1)
    fp = (y == 0) & (pred == 1)
    fn = (y == 1) & (pred == 0)
    f1_rows = np.r_[np.ones(int(tp.sum())), np.zeros(int(fp.sum() + fn.sum()))]
    prec_rows = np.r_[np.ones(int(tp.sum())), np.zeros(int(fp.sum()))]
    rec_rows = np.r_[np.ones(int(tp.sum())), np.zeros(int(fn.sum()))]
    # AUC: per positive, the share of negatives ranked below it (Hanley–McNeil's placement)
    neg, pos = np.sort(score[y == 0]), np.sort(score[y == 1])  # sorted queries: a cache-friendly search
    below = np.searchsorted(neg, pos, side="left")
    placements = below + 0.5 * (np.searchsorted(neg, pos, side="right") - below)
    auc_rows = placements / max(neg.size, 1)
    return {
        "accuracy": _std_frac((y == pred).astype(float), n),
        "roc_auc": _std_frac(auc_rows, n),
        "f1": _std_frac(f1_rows, n),
        "precision": _std_frac(prec_rows, n),
        "recall": _std_frac(rec_rows, n),
    }


def _se(component: tuple[float, float], rows: int) -> float:
    std, frac = component
    return std / np.sqrt(rows * frac) if rows * frac > 0 else float("nan")


# ---- calibration --------------------------------------------------------------------------


def _ece(p: np.ndarray, y: np.ndarray) -> float:
    bins = np.minimum((p * _ECE_BINS).astype(int), _ECE_BINS - 1)
    counts = np.bincount(bins, minlength=_ECE_BINS)
    gap = np.bincount(bins, weights=p - y, minlength=_ECE_BINS)
    return float(np.abs(gap).sum() / max(p.size, 1)) if counts.any() else 0.0


@dataclass
class Isotonic:
    """A fitted isotonic calibration: linear between its thresholds, clipped outside them
    (what scikit-learn's IsotonicRegression(out_of_bounds="clip") predicts)."""

    x: np.ndarray
    y: np.ndarray

    def predict(self, p: np.ndarray) -> np.ndarray:
        return np.interp(p, self.x, self.y)


def _isotonic_sorted(ps: np.ndarray, ys: np.ndarray) -> Isotonic:
    """Pool-adjacent-violators on probabilities already sorted ascending: ties are pooled
    first, so no sort is needed per fold (scikit-learn's fit sorts every time)."""
    from sklearn.isotonic import isotonic_regression

    edge = np.r_[True, ps[1:] != ps[:-1]]
    idx = np.cumsum(edge) - 1
    weight = np.bincount(idx).astype(np.float64)
    mean = np.bincount(idx, weights=ys) / weight
    x, y = ps[edge], isotonic_regression(mean, sample_weight=weight, y_min=0.0, y_max=1.0)
    # inside a flat block only its ends matter for interpolation (scikit-learn drops them too)
    flat = np.r_[False, (y[1:-1] == y[:-2]) & (y[1:-1] == y[2:]), False] if y.size > 2 else np.zeros(y.size, bool)
    return Isotonic(x[~flat], y[~flat])


def fit_calibrator(p: np.ndarray, y: np.ndarray, folds: int = 5) -> Isotonic | None:
    """Isotonic regression of y on p, or None when cross-fitted calibration does not lower
    the expected calibration error (the model is already calibrated: leave it alone)."""
    order = np.argsort(p)  # ties are pooled before fitting: their order does not matter
    ps, ys = p[order], y[order]
    fold = np.random.default_rng(_SEED).integers(0, folds, size=p.size)[order]
    crossed = np.empty_like(ps)
    for k in range(folds):
        test = fold == k
        if not test.any() or test.all():
            return _isotonic_sorted(ps, ys)
        crossed[test] = _isotonic_sorted(ps[~test], ys[~test]).predict(ps[test])
    if _ece(crossed, ys) >= _ece(ps, ys):
        return None
    return _isotonic_sorted(ps, ys)


# ---- input checks ---------------------------------------------------------------------------


def _probabilities(values: Any, where: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        arr = values.astype(np.float64, copy=False).reshape(len(values), -1)
    else:
        arr = np.asarray(pd.DataFrame(values).apply(pd.to_numeric, errors="coerce"), dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise EstimateInputError(
            f"The {where} probabilities are not in [0, 1] (min {finite.min():.3g}, max {finite.max():.3g}).",
            hint="Log the model's predicted probability, not a raw score or logit.")
    return arr


def _subsample(n: int, cap: int = MAX_FIT_ROWS) -> np.ndarray | slice:
    if n <= cap:
        return slice(None)
    return np.sort(np.random.default_rng(_SEED).choice(n, cap, replace=False))


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    """Consecutive chunks of `size` rows; a remainder under half a chunk joins the last one."""
    if size <= 0 or n <= size:
        return [(0, n)]
    bounds = list(range(0, n, size))
    out = [(b, min(b + size, n)) for b in bounds]
    if len(out) > 1 and out[-1][1] - out[-1][0] < size / 2:
        out[-2] = (out[-2][0], out[-1][1])
        out.pop()
    return out


def _alert_range(values: list[float], centre: float, se: float, bounded: bool) -> tuple[float, float]:
    """Mean ± 3 std of the metric over reference chunks; never narrower than ± 3 sampling
    errors (a few chunks under-state the spread), and ± 3 sampling errors around the whole
    reference when it holds fewer than MIN_CHUNKS chunks."""
    vals = np.asarray([v for v in values if np.isfinite(v)])
    if vals.size >= MIN_CHUNKS:
        centre, spread = float(vals.mean()), max(float(vals.std()), se if np.isfinite(se) else 0.0)
    else:
        spread = se if np.isfinite(se) else 0.0
    lo, hi = centre - THRESHOLD_SIGMAS * spread, centre + THRESHOLD_SIGMAS * spread
    return (max(lo, 0.0), min(hi, 1.0)) if bounded else (max(lo, 0.0), hi)


def _metric(name: str, est: float, se: float, realised: float | None, reference: float,
            alert_range: tuple[float, float], bounded: bool) -> MetricEstimate:
    ok = bool(np.isfinite(est))
    lo = est - BAND_SIGMAS * se if ok and np.isfinite(se) else None
    hi = est + BAND_SIGMAS * se if ok and np.isfinite(se) else None
    if bounded and lo is not None and hi is not None:
        lo, hi = max(lo, 0.0), min(hi, 1.0)
    elif lo is not None:
        lo = max(lo, 0.0)
    alo, ahi = alert_range
    return MetricEstimate(
        metric=name, estimate=est if ok else None, sampling_error=se if np.isfinite(se) else 0.0,
        lower=lo, upper=hi, realised=None if realised is None or not np.isfinite(realised) else realised,
        reference=reference, alert_lower=alo, alert_upper=ahi, alert=ok and not (alo <= est <= ahi),
    )


# ---- CBPE -----------------------------------------------------------------------------------


@dataclass
class CBPE:
    """Fitted on a labelled reference window; `estimate` takes unlabelled chunks."""

    classes: list[Any]
    calibrators: list[Isotonic | None]
    components: list[dict[str, tuple[float, float]]]  # per class (one for binary)
    reference_metrics: dict[str, float]
    reference_rows: int
    chunk_size: int
    alert_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def task(self) -> Task:
        return "binary" if len(self.classes) == 2 else "multiclass"

    @property
    def calibration(self) -> str:
        return "isotonic" if any(c is not None for c in self.calibrators) else "none"

    # -- fitting
    @classmethod
    def fit(cls, y_true: Sequence[Any] | np.ndarray | pd.Series, proba: Any, y_pred: Any = None, *,
            classes: Sequence[Any] | None = None, chunk_size: int | None = None) -> CBPE:
        """`proba`: the positive class's probability (binary, 1-d) or one column per class
        (multiclass, in `classes` order). `y_pred` defaults to p ≥ 0.5 / the arg-max class."""
        p = _probabilities(proba, "reference")
        y = pd.Series(np.asarray(y_true))
        if y.isna().all():
            raise EstimateInputError("The reference window has no labels.",
                                     hint="CBPE calibrates on labelled reference rows: ingest labels for the reference window.")
        keep = y.notna().to_numpy() & np.isfinite(p).all(axis=1)
        p, y = p[keep], y[keep].to_numpy()
        if p.shape[0] < 100:
            raise EstimateInputError(f"The reference window has {p.shape[0]} labelled rows with probabilities; at least 100 are needed.")
        if p.shape[1] == 1:
            labels = list(classes) if classes is not None else sorted(pd.unique(y).tolist(), key=str)
            if len(labels) > 2:
                raise EstimateInputError(f"The labels have {len(labels)} classes but one probability column was given.",
                                         hint="Give one probability column per class for a multiclass model.")
            if len(pd.unique(y)) < 2:
                raise EstimateInputError(f"The reference labels hold one class only ({y[0]!r}); calibration needs both.",
                                         hint="Use a reference window where both outcomes occur.")
            pos_label = labels[-1]
            yi = (y == pos_label).astype(np.int8)
            pred = _binary_pred(p[:, 0], y_pred, keep, pos_label)
            return cls._fit_classes([labels[0], pos_label], p, yi[:, None], pred[:, None], chunk_size)
        labels = list(classes) if classes is not None else list(range(p.shape[1]))
        if len(labels) != p.shape[1]:
            raise EstimateInputError(f"{p.shape[1]} probability columns for {len(labels)} classes.")
        unknown = set(pd.unique(y).tolist()) - set(labels)
        if unknown:
            raise EstimateInputError(f"Labels {sorted(map(str, unknown))[:5]} have no probability column.",
                                     choices=[str(c) for c in labels])
        onehot = (y[:, None] == np.asarray(labels, dtype=object)[None, :]).astype(np.int8)
        missing = [str(c) for c, n in zip(labels, onehot.sum(axis=0), strict=True) if n == 0]
        if missing:
            raise EstimateInputError(f"Class {missing[0]} never occurs in the reference labels; calibration needs every class.")
        pred_idx = _multi_pred(p, y_pred, keep, labels)
        predhot = np.zeros_like(onehot)
        predhot[np.arange(len(pred_idx)), pred_idx] = 1
        return cls._fit_classes(labels, p, onehot, predhot, chunk_size)

    @classmethod
    def _fit_classes(cls, labels: list[Any], p: np.ndarray, onehot: np.ndarray, predhot: np.ndarray,
                     chunk_size: int | None) -> CBPE:
        n = p.shape[0]
        fit_rows = _subsample(n)
        cals = [fit_calibrator(p[fit_rows, j], onehot[fit_rows, j].astype(float)) for j in range(p.shape[1])]
        comps = [_binary_components(onehot[:, j], p[:, j], predhot[:, j]) for j in range(p.shape[1])]
        model = cls(classes=labels, calibrators=cals, components=comps, reference_metrics={},
                    reference_rows=n, chunk_size=chunk_size or n)
        model.reference_metrics = model._realised(p, onehot, predhot)
        size = chunk_size or n
        per_chunk = [model._realised(p[a:b], onehot[a:b], predhot[a:b]) for a, b in _chunks(n, size)] if size < n else []
        for metric in CLASSIFICATION_METRICS:
            ref = model.reference_metrics[metric]
            se = model._sampling_error(metric, size)
            model.alert_ranges[metric] = _alert_range([c[metric] for c in per_chunk], ref, se, bounded=True)
        return model

    # -- per chunk
    def _calibrated(self, p: np.ndarray) -> np.ndarray:
        if self.task == "binary":
            c = self.calibrators[0]
            return (c.predict(p[:, 0]) if c is not None else p[:, 0])[:, None]
        out = np.column_stack([c.predict(p[:, j]) if c is not None else p[:, j] for j, c in enumerate(self.calibrators)])
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.full_like(out, 1.0 / out.shape[1]), where=total > 0)

    def _realised(self, p: np.ndarray, onehot: np.ndarray, predhot: np.ndarray) -> dict[str, float]:
        per = [_binary_metrics(p[:, j], onehot[:, j].astype(float), predhot[:, j].astype(float)) for j in range(onehot.shape[1])]
        return self._combine(per, float(np.mean(np.all(onehot == predhot, axis=1))) if onehot.size else float("nan"))

    def _combine(self, per: list[dict[str, float]], accuracy: float) -> dict[str, float]:
        if self.task == "binary":
            return per[0]
        out = {m: float(np.nanmean([c[m] for c in per])) if any(np.isfinite(c[m]) for c in per) else float("nan")
               for m in ("roc_auc", "f1", "precision", "recall")}
        return {"accuracy": accuracy, **out}

    def _sampling_error(self, metric: str, rows: int) -> float:
        if metric == "accuracy" and self.task == "multiclass":
            # one correct/incorrect per row: the class components do not give it; use p(1-p)
            acc = self.reference_metrics.get("accuracy", 0.5)
            return float(np.sqrt(acc * (1 - acc) / max(rows, 1)))
        per = [_se(c[metric], rows) for c in self.components]
        if len(per) == 1:
            return per[0]
        return float(np.sqrt(np.nansum(np.square(per))) / len(per))  # the mean of k estimates

    def estimate(self, proba: Any, y_pred: Any = None, y_true: Any = None, *, key: str = "current",
                 start: int = 0) -> tuple[ChunkEstimate, int]:
        """One chunk's estimate (and realised, when `y_true` has labels); also how many rows
        were skipped for a missing probability."""
        p = _probabilities(proba, "current")
        k = len(self.classes)
        if (k == 2 and p.shape[1] != 1) or (k > 2 and p.shape[1] != k):
            raise EstimateInputError(f"The current window has {p.shape[1]} probability columns; the reference had {1 if k == 2 else k}.")
        keep = np.isfinite(p).all(axis=1)
        skipped = int((~keep).sum())
        if not keep.any():
            raise EstimateInputError("No current row has a probability (all missing or NaN).")
        p = p[keep]
        if k == 2:
            predhot = _binary_pred(p[:, 0], y_pred, keep, self.classes[1])[:, None]
        else:
            idx = _multi_pred(p, y_pred, keep, self.classes)
            predhot = np.zeros((p.shape[0], k), dtype=np.int8)
            predhot[np.arange(p.shape[0]), idx] = 1
        cal = self._calibrated(p)
        per = [_binary_metrics(p[:, j], cal[:, j], predhot[:, j].astype(float)) for j in range(cal.shape[1])]
        expected_acc = float(np.mean(np.sum(cal * predhot, axis=1))) if k > 2 else per[0]["accuracy"]
        est = self._combine(per, expected_acc)
        realised = self._labels_realised(y_true, keep, p, predhot)
        rows = p.shape[0]
        metrics = [_metric(m, est[m], self._sampling_error(m, rows), realised.get(m) if realised else None,
                           self.reference_metrics[m], self.alert_ranges[m], bounded=True)
                   for m in CLASSIFICATION_METRICS]
        return ChunkEstimate(key=key, start=start, end=start + len(keep), rows=rows, metrics=metrics), skipped

    def _labels_realised(self, y_true: Any, keep: np.ndarray, p: np.ndarray, predhot: np.ndarray) -> dict[str, float] | None:
        if y_true is None:
            return None
        y = pd.Series(np.asarray(y_true))[keep]
        labelled = y.notna().to_numpy()
        if not labelled.any():
            return None
        yv = y[labelled].to_numpy()
        if self.task == "binary":
            onehot = (yv == self.classes[1]).astype(np.int8)[:, None]
        else:
            onehot = (yv[:, None] == np.asarray(self.classes, dtype=object)[None, :]).astype(np.int8)
        return self._realised(p[labelled], onehot, predhot[labelled])


def _binary_pred(p: np.ndarray, y_pred: Any, keep: np.ndarray, pos_label: Any) -> np.ndarray:
    if y_pred is None:
        return (p >= 0.5).astype(np.int8)
    pred = pd.Series(np.asarray(y_pred))[keep].to_numpy()
    if pred.dtype.kind in "fc" and np.isnan(pred.astype(float)).any():
        raise EstimateInputError("Some predictions are missing while their probability is given.")
    return (pred == pos_label).astype(np.int8)


def _multi_pred(p: np.ndarray, y_pred: Any, keep: np.ndarray, labels: list[Any]) -> np.ndarray:
    if y_pred is None:
        return np.argmax(p, axis=1)
    pred = pd.Series(np.asarray(y_pred))[keep]
    idx = pd.Index(labels).get_indexer(pred)
    if (idx < 0).any():
        bad = pred[idx < 0].iloc[0]
        raise EstimateInputError(f"Prediction {bad!r} is not one of the classes.", choices=[str(c) for c in labels])
    return np.asarray(idx)


# ---- DLE ------------------------------------------------------------------------------------


def _design(frame: pd.DataFrame, categories: dict[str, Any] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Numbers as float; anything else as the code of its level in the reference (NaN for a
    level the reference never saw). Codes split as numbers: on NannyML's car-price set they
    beat native categorical splits."""
    out = {}
    cats = dict(categories or {})
    for col in frame.columns:
        s = frame[col]
        if categories is None and (pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s)):
            cats[col] = pd.Index(s.dropna().astype(str).unique())
        if col in cats:
            codes = pd.Index(cats[col]).get_indexer(s.astype(str)).astype(np.float64)
            codes[(codes < 0) | s.isna().to_numpy()] = np.nan
            out[col] = codes
        else:
            out[col] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    return pd.DataFrame(out, index=frame.index), cats


# The loss model: few deep trees at a high rate. What it must get right is the MEAN |e| of a
# chunk, where per-row noise averages out: on NannyML's car-price set every setting from 60
# rounds × 63 leaves at 0.12 down to 10 × 127 at 0.5 estimates chunks to within the realised
# metric's own sampling error, on the analysis period and cross-validated over reference
# chunks (`python bench/nannyml.py --dle-sweep`). 15 rounds cost a quarter of 60; the five
# over the cheapest setting are a margin for data with more structure than car prices.
LOSS_ROUNDS = 15
LOSS_LEARNING_RATE = 0.4
LOSS_LEAVES = 127
KAPPA_ROWS = 10_000  # κ is a ratio of two means: a bounded sample of reference estimates it


@dataclass
class DLE:
    """A model of the absolute error, fitted on the labelled reference. The squared error is
    κ·(estimated |e|)², κ = mean(e²) / mean(estimated |e|²) on reference: one model instead of
    NannyML's two, and on its car-price set a closer RMSE than a model of e² itself."""

    features: list[str]
    categories: dict[str, Any]
    abs_model: Any
    kappa: float
    components: dict[str, float]
    reference_metrics: dict[str, float]
    reference_rows: int
    chunk_size: int
    alert_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    task: Task = "regression"

    @classmethod
    def fit(cls, features: pd.DataFrame, y_pred: Any, y_true: Any, *, chunk_size: int | None = None,
            rounds: int = LOSS_ROUNDS, learning_rate: float = LOSS_LEARNING_RATE, leaves: int = LOSS_LEAVES) -> DLE:
        from sklearn.ensemble import HistGradientBoostingRegressor

        yp = pd.to_numeric(pd.Series(np.asarray(y_pred)), errors="coerce").to_numpy(dtype=np.float64)
        yt = pd.to_numeric(pd.Series(np.asarray(y_true)), errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(yt).any():
            raise EstimateInputError("The reference window has no numeric labels.",
                                     hint="DLE models the error on labelled reference rows: ingest labels for the reference window.")
        keep = np.isfinite(yp) & np.isfinite(yt)
        if keep.sum() < 100:
            raise EstimateInputError(f"The reference window has {int(keep.sum())} labelled rows with predictions; at least 100 are needed.")
        X, cats = _design(features.reset_index(drop=True).loc[keep])
        Xn = np.column_stack([X.to_numpy(dtype=np.float64), yp[keep]])
        err = yt[keep] - yp[keep]
        ae, se2 = np.abs(err), err**2
        rows = _subsample(len(Xn))
        model = HistGradientBoostingRegressor(
            max_iter=rounds, learning_rate=learning_rate, max_leaf_nodes=leaves, early_stopping=False, random_state=_SEED,
        ).fit(Xn[rows], ae[rows])
        k_rows = _subsample(len(Xn), KAPPA_ROWS)
        fitted = np.clip(model.predict(Xn[k_rows]), 0, None)
        kappa = float(se2[k_rows].mean() / max(float(np.mean(fitted**2)), 1e-300))

        n = int(keep.sum())
        ref = {"mae": float(ae.mean()), "rmse": float(np.sqrt(se2.mean()))}
        comps = {"mae": float(ae.std()), "rmse": float(se2.std()) / (2 * max(ref["rmse"], 1e-12))}
        size = chunk_size or n
        dle = cls(features=list(features.columns), categories=cats, abs_model=model, kappa=kappa,
                  components=comps, reference_metrics=ref, reference_rows=n, chunk_size=size)
        per = [{"mae": float(ae[a:b].mean()), "rmse": float(np.sqrt(se2[a:b].mean()))} for a, b in _chunks(n, size)] if size < n else []
        for m in REGRESSION_METRICS:
            dle.alert_ranges[m] = _alert_range([c[m] for c in per], ref[m], comps[m] / np.sqrt(size), bounded=False)
        return dle

    def estimate(self, features: pd.DataFrame, y_pred: Any, y_true: Any = None, *, key: str = "current",
                 start: int = 0) -> tuple[ChunkEstimate, int]:
        """One chunk's estimate (and realised, when `y_true` has labels); also how many rows
        were skipped for a missing prediction."""
        (chunk,), skipped = self.estimate_chunks(features, y_pred, y_true, [(0, len(features), key)], start=start)
        return chunk, skipped

    def estimate_chunks(self, features: pd.DataFrame, y_pred: Any, y_true: Any,
                        parts: Sequence[tuple[int, int, str]], *, start: int = 0) -> tuple[list[ChunkEstimate], int]:
        """Several row ranges of one window (the whole of it, its chunks) from ONE prediction of
        the loss model over the window; also how many rows were skipped."""
        missing = [c for c in self.features if c not in features.columns]
        if missing:
            raise EstimateInputError(f"The current window lacks the reference's features: {', '.join(missing[:5])}.")
        yp = pd.to_numeric(pd.Series(np.asarray(y_pred)), errors="coerce").to_numpy(dtype=np.float64)
        keep = np.isfinite(yp)
        if not keep.any():
            raise EstimateInputError("No current row has a numeric prediction.")
        X, _ = _design(features[self.features].reset_index(drop=True).loc[keep], self.categories)
        ae_kept = np.clip(self.abs_model.predict(np.column_stack([X.to_numpy(dtype=np.float64), yp[keep]])), 0, None)
        ae = np.full(len(yp), np.nan)
        ae[keep] = ae_kept
        e = None
        if y_true is not None:
            yt = pd.to_numeric(pd.Series(np.asarray(y_true)), errors="coerce").to_numpy(dtype=np.float64)
            e = yt - yp  # NaN where either is missing
        return [self._chunk(ae[a:b], None if e is None else e[a:b], key, start + a) for a, b, key in parts], int((~keep).sum())

    def _chunk(self, ae: np.ndarray, e: np.ndarray | None, key: str, start: int) -> ChunkEstimate:
        ok = np.isfinite(ae)
        rows = int(ok.sum())
        est = {"mae": float(ae[ok].mean()) if rows else float("nan"),
               "rmse": float(np.sqrt(self.kappa * np.mean(ae[ok] ** 2))) if rows else float("nan")}
        realised: dict[str, float] | None = None
        if e is not None and np.isfinite(e).any():
            ev = e[np.isfinite(e)]
            realised = {"mae": float(np.abs(ev).mean()), "rmse": float(np.sqrt((ev**2).mean()))}
        metrics = [_metric(m, est[m], self.components[m] / np.sqrt(max(rows, 1)), realised.get(m) if realised else None,
                           self.reference_metrics[m], self.alert_ranges[m], bounded=False)
                   for m in REGRESSION_METRICS]
        return ChunkEstimate(key=key, start=start, end=start + len(ae), rows=rows, metrics=metrics)


# ---- one call for a whole window --------------------------------------------------------------


def estimate_window(model: CBPE | DLE, *, proba: Any = None, features: pd.DataFrame | None = None,
                    y_pred: Any = None, y_true: Any = None, chunk_size: int | None = None) -> PerformanceEstimate:
    """The whole current window (`overall`) and its chunks of `chunk_size` rows."""
    n = len(features) if isinstance(model, DLE) and features is not None else len(np.asarray(proba if proba is not None else y_pred))
    if n == 0:
        raise EstimateInputError("The current window has no rows.")

    def part(cbpe: CBPE, a: int, b: int, key: str) -> tuple[ChunkEstimate, int]:
        yt = None if y_true is None else np.asarray(y_true)[a:b]
        yp = None if y_pred is None else np.asarray(y_pred)[a:b]
        return cbpe.estimate(np.asarray(proba)[a:b], yp, yt, key=key, start=a)

    bounds = _chunks(n, chunk_size) if chunk_size and chunk_size < n else []
    if isinstance(model, DLE):  # one prediction of the loss model for the window and its chunks
        assert features is not None
        yt = None if y_true is None else np.asarray(y_true)
        parts, skipped = model.estimate_chunks(features, y_pred, yt, [(0, n, "all"), *((a, b, f"{a}:{b}") for a, b in bounds)])
        overall, chunks = parts[0], parts[1:]
    else:
        overall, skipped = part(model, 0, n, "all")
        chunks = [part(model, a, b, f"{a}:{b}")[0] for a, b in bounds]
    return PerformanceEstimate(
        task=model.task, method="DLE" if isinstance(model, DLE) else "CBPE",
        calibration="n/a" if isinstance(model, DLE) else model.calibration,
        classes=[str(c) for c in model.classes] if isinstance(model, CBPE) else [],
        reference_rows=model.reference_rows, current_rows=n, chunk_size=chunk_size or n, skipped_rows=skipped,
        reference_metrics=model.reference_metrics, overall=overall, chunks=chunks,
    )
