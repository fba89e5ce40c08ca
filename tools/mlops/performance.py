"""A model's performance on its newest window without labels (tools/mlops/estimate.py), from
the stored feature windows and the delayed labels that arrived for them.

Columns are found by name unless the caller names them: probabilities `y_pred_proba` /
`proba` / `probability` (or one `proba_<class>` / `y_pred_proba_<class>` per class), the
prediction `y_pred` / `prediction` (or the model's prediction column), the label `label` /
`target` / `y_true` / `y`. A window with probabilities is a classifier (CBPE); one with a
numeric prediction and numeric labels on reference is a regressor (DLE).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection

from tools.mlops.data import REFERENCE, resolve_label
from tools.mlops.estimate import CBPE, DLE, EstimateInputError, estimate_window
from tools.mlops.perf_models import Columns, PerformanceBrief, PerformanceResult
from tools.store import models as reg

TARGETS = ("label", "target", "y_true", "y", "actual", "ground_truth", "outcome")
PROBAS = ("y_pred_proba", "proba", "probability", "pred_proba", "prediction_proba", "predicted_probability")
PROBA_PREFIXES = ("y_pred_proba_", "proba_", "probability_")
PREDICTIONS = ("y_pred", "prediction", "predicted", "pred")
ID_KEYS = ("id", "row_id", "request_id", "prediction_id", "identifier", "event_id")


def _first(cols: list[str], names: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in cols}
    return next((lower[n] for n in names if n in lower), None)


def find_columns(ref: pd.DataFrame, model_row: dict[str, Any] | None, *, target: str | None = None,
                 proba: list[str] | None = None, prediction: str | None = None) -> Columns:
    cols = [str(c) for c in ref.columns]
    for given in [target, prediction, *(proba or [])]:
        if given is not None and given not in cols:
            raise EstimateInputError(f"The reference window has no column '{given}'.", choices=cols[:20])
    target = target or _first(cols, TARGETS)
    if target is None:
        raise EstimateInputError("The reference window has no label column.",
                                 hint="Name it target=COLUMN, or log it as 'label' or 'target'; "
                                      "estimation calibrates on labelled reference rows.")
    if not proba:
        multi = [(c, c[len(p):]) for c in cols for p in PROBA_PREFIXES if c.lower().startswith(p)]
        one = _first(cols, PROBAS)
        if len(multi) >= 3 or (len(multi) == 2 and one is None):
            proba = [c for c, _ in multi]
        elif one is not None:
            proba = [one]
    prediction = prediction or (model_row or {}).get("prediction_column") or _first(cols, PREDICTIONS)
    if prediction is not None and prediction not in cols:
        prediction = _first(cols, PREDICTIONS)
    if not proba and prediction is not None and _is_probability(ref[prediction]) and ref[target].dropna().nunique() == 2:
        proba = [prediction]  # a binary classifier that logs its score: the positive class's probability
    used = {target, prediction, *(proba or [])}
    features = [c for c in cols if c not in used and c.lower() not in ID_KEYS
                and not pd.api.types.is_datetime64_any_dtype(ref[c])]
    if proba:
        if prediction in proba:
            prediction = None  # the score itself: predicted positive at p >= 0.5
        classes = [c for p in proba for pre in PROBA_PREFIXES if p.lower().startswith(pre) for c in [p[len(pre):]]]
        return Columns(task="classifier", proba=proba, classes=classes if len(proba) > 1 else [],
                       prediction=prediction, target=target, features=features)
    y = ref[target]
    if prediction is not None and pd.api.types.is_numeric_dtype(ref[prediction]) and pd.api.types.is_numeric_dtype(y) \
            and y.nunique() > 20:
        return Columns(task="regressor", prediction=prediction, target=target, features=features)
    raise EstimateInputError(
        "The windows carry no predicted probabilities, so performance cannot be estimated without labels.",
        hint="Log the model's probability as 'y_pred_proba' (or 'proba_<class>' per class), or name it proba=COLUMN.")


def _is_probability(col: pd.Series) -> bool:
    """Floats within [0, 1] that are not just 0 and 1 (a hard prediction)."""
    if not pd.api.types.is_float_dtype(col):
        return False
    v = col.dropna()
    return len(v) > 0 and bool(v.between(0, 1).all()) and not bool(v.isin([0.0, 1.0]).all())


def attach_labels(conn: Connection, model: str, label: str, frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """The window with its delayed labels (if any arrived) in `target`."""
    late = reg.load_labels(conn, model, label)
    if late is None:
        return frame
    value = target if target in late.columns else _first([str(c) for c in late.columns], TARGETS)
    if value is None:
        raise EstimateInputError(f"The labels stored for {model}/{label} have no '{target}' column.")
    _, mapped = join_labels(frame, late, value, f"{model}/{label}")
    out = frame.copy()
    out[target] = out[target].where(out[target].notna(), mapped) if target in out.columns else mapped
    return out


def join_labels(frame: pd.DataFrame, labels: pd.DataFrame, value: str, where: str) -> tuple[str | None, pd.Series]:
    """`labels[value]` aligned to the window's rows, and the id column it was joined on: the
    first id column both have, else by position (the lengths must then match). The one rule
    for labels being stored (tools/mlops/ingest.py) and being read back (attach_labels)."""
    key = next((k for k in ID_KEYS if k in frame.columns and k in labels.columns), None)
    if key is not None:
        return key, frame[key].map(labels.drop_duplicates(key).set_index(key)[value])
    if len(labels) == len(frame):
        return None, pd.Series(labels[value].to_numpy(), index=frame.index)
    raise EstimateInputError(
        f"{len(labels):,} labels for {where}, which has {len(frame):,} rows, and no shared id column.",
        hint=f"Give both an id column ({', '.join(ID_KEYS[:3])}) or one label per window row.")


# Fitted estimates by what they were computed from: model_status, its Retrain button and the
# scheduled checks ask again and again about the same windows, and fitting CBPE/DLE on a
# reference of 100k rows takes seconds. A window or its labels stored again changes the key.
CACHE_SIZE = 32
_cache: OrderedDict[tuple[Any, ...], PerformanceResult] = OrderedDict()
_cache_lock = threading.Lock()


def estimate_model(conn: Connection, model: str, *, window: str = "latest", reference: str = REFERENCE,
                   chunk_size: int | None = None, target: str | None = None, proba: list[str] | None = None,
                   prediction: str | None = None) -> PerformanceResult:
    """The current window's estimated (and, where labels arrived, realised) performance;
    the same windows, labels and options give the cached result without fitting again."""
    row = reg.get_model(conn, model)
    ref_label = resolve_label(conn, model, reference)
    cur_label = resolve_label(conn, model, window)
    if cur_label == ref_label:
        raise EstimateInputError("The current window is the reference window.")
    stamps = {w["label"]: (w["stored_at"], w["rows"]) for w in reg.window_labels(conn, model)}
    late = reg.labels_stored_at(conn, model)
    key = (str(conn.engine.url), model, (row or {}).get("prediction_column"),
           ref_label, stamps.get(ref_label), late.get(ref_label), cur_label, stamps.get(cur_label), late.get(cur_label),
           chunk_size, target, tuple(proba or ()), prediction)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    result = _estimate(conn, model, row, ref_label, cur_label, chunk_size=chunk_size, target=target, proba=proba,
                       prediction=prediction)
    with _cache_lock:
        _cache[key] = result
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _estimate(conn: Connection, model: str, row: dict[str, Any] | None, ref_label: str, cur_label: str, *,
              chunk_size: int | None, target: str | None, proba: list[str] | None,
              prediction: str | None) -> PerformanceResult:
    ref = reg.load_window(conn, model, ref_label)
    cur = reg.load_window(conn, model, cur_label)
    assert ref is not None and cur is not None
    ref = attach_labels(conn, model, ref_label, ref, target or _first([str(c) for c in ref.columns], TARGETS) or "label")
    cols = find_columns(ref, row, target=target, proba=proba, prediction=prediction)
    if cols.target not in ref.columns or ref[cols.target].isna().all():
        raise EstimateInputError(f"The reference window {model}/{ref_label} has no labels.",
                                 hint=f"Ingest them: triops ingest labels {model} {ref_label} FILE.")
    cur = attach_labels(conn, model, cur_label, cur, cols.target)
    missing = [c for c in [*cols.proba, *([cols.prediction] if cols.prediction else [])] if c not in cur.columns]
    if missing:
        raise EstimateInputError(f"The current window {model}/{cur_label} has no column {missing[0]}.")
    y_cur = cur[cols.target] if cols.target in cur.columns else None
    size = chunk_size or len(cur)
    if cols.task == "classifier":
        pred_ref = ref[cols.prediction] if cols.prediction else None
        pred_cur = cur[cols.prediction] if cols.prediction else None
        classes = cols.classes or None
        if classes is not None and pd.api.types.is_numeric_dtype(ref[cols.target]):
            classes = [_as(c, ref[cols.target]) for c in classes]
        fitted: CBPE | DLE = CBPE.fit(ref[cols.target], ref[cols.proba], pred_ref, classes=classes, chunk_size=size)
        est = estimate_window(fitted, proba=cur[cols.proba], y_pred=pred_cur, y_true=y_cur, chunk_size=chunk_size)
    else:
        assert cols.prediction is not None
        fitted = DLE.fit(ref[cols.features], ref[cols.prediction], ref[cols.target], chunk_size=size)
        est = estimate_window(fitted, features=cur[cols.features], y_pred=cur[cols.prediction], y_true=y_cur,
                              chunk_size=chunk_size)
    labelled = 0 if y_cur is None else int(y_cur.notna().sum())
    return PerformanceResult(
        model=model, service=(row or {}).get("service"), reference=f"{model}/{ref_label}", current=f"{model}/{cur_label}",
        columns=cols, labels="none" if labelled == 0 else "all" if labelled == len(cur) else "partial", estimate=est,
    )


def _as(text: str, like: pd.Series) -> Any:
    try:
        return type(like.dropna().iloc[0].item())(text)
    except (ValueError, IndexError, AttributeError):
        return text


def performance_brief(conn: Connection, model: str) -> PerformanceBrief | None:
    """For model_status: None when the model's windows cannot say anything about performance
    (no windows, no probabilities); the reason when they should but cannot."""
    labels = [w["label"] for w in reg.window_labels(conn, model)]
    if REFERENCE not in labels or len(labels) < 2:
        return None
    try:
        r = estimate_model(conn, model)
    except EstimateInputError as exc:
        if "no predicted probabilities" in exc.message or "no label column" in exc.message:
            return None
        return PerformanceBrief(error=exc.message)
    return PerformanceBrief(current=r.current, method=r.estimate.method, headline=r.headline(),
                            alerts=r.estimate.alerts, labels=r.labels)
