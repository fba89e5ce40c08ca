"""Runbook search quality on real alert rules, and calibration of the "no runbook" bar.

    python bench/runbooks_eval.py                 # evaluate with the shipped calibration
    python bench/runbooks_eval.py --calibrate     # refit knowledge/calibration.json, then evaluate

Ranking metrics (recall@1, recall@3, MRR) are over alerts that have a runbook, for BM25 alone,
dense alone, the RRF hybrid, and the hybrid with the verbatim-alert-name rule (what users get).
Answers: found and right runbook in the top 3; found with a wrong top-1; "none" for the
alerts with no runbook. With --calibrate the answer figures are also given with out-of-fold
confidences (5 folds grouped by alert name), i.e. not measured on the data fitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge import retrieval  # noqa: E402
from knowledge.evaluation import (  # noqa: E402
    EvalQuery,
    build_queries,
    default_rules_path,
    evaluate,
    format_report,
    load_rules,
)
from knowledge.index import KnowledgeBase  # noqa: E402

FEATURES = ["dense_top", "dense_margin", "bm25_share", "agree"]
CALIBRATION_FILE = ROOT / "knowledge" / "calibration.json"
RECALL_FLOOR = 0.95  # the target for hybrid recall@3 without the alert name


def calibration_rows(kb: KnowledgeBase, queries: list[EvalQuery]) -> dict[str, np.ndarray]:
    """Per query: the hybrid top runbook's features and whether it is right; which queries the
    name rules settle (a known alert name: confidence 1; an unknown one: none)."""
    snap = kb.snapshot()
    rows: dict[str, list] = {k: [] for k in ("X", "right", "top3", "has_truth", "group", "named", "unknown")}
    for q in queries:
        bm25, _ = snap.bm25_doc_scores(q.text)
        dense, _ = kb.dense_doc_scores(q.text, snap)
        b_rank, d_rank = retrieval.ranking(bm25, min_score=0.0), retrieval.ranking(dense)
        order = retrieval.ranking(retrieval.rrf([b_rank, d_rank]))
        f = retrieval.confidence_features(order[0], dense, bm25, d_rank, b_rank)
        named = retrieval.verbatim_alert_docs(q.text, snap.alert_index)
        order = named + [d for d in order if d not in named]
        rows["X"].append([f[k] for k in FEATURES])
        rows["right"].append(q.truth is not None and order[0] == q.truth)
        rows["top3"].append(q.truth is not None and q.truth in order[:3])
        rows["has_truth"].append(q.truth is not None)
        rows["group"].append(q.alertname)
        rows["named"].append(bool(named))
        rows["unknown"].append(not named and bool(retrieval.unknown_alert_names(q.text, snap.vocabulary)))
    return {k: np.array(v) for k, v in rows.items()}


def choose_threshold(conf: np.ndarray, in_top3: np.ndarray, has_truth: np.ndarray) -> float:
    """The highest bar that keeps answered recall@3 (found and right runbook in the top 3) at or
    above RECALL_FLOOR on alerts with a runbook: it says "none" as often as that allows."""
    best = 0.0
    for t in np.unique(np.round(conf, 3)):
        if np.mean((conf[has_truth] >= t) & in_top3[has_truth]) >= RECALL_FLOOR:
            best = max(best, float(t))
    return best


def calibrate(kb: KnowledgeBase, queries: list[EvalQuery]) -> dict[str, object]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    d = calibration_rows(kb, queries)
    free = ~d["named"] & ~d["unknown"]  # the calibration decides only these
    X, y, groups = d["X"][free], d["right"][free].astype(int), d["group"][free]
    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(X, y, groups):
        oof[test] = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], y[train]).predict_proba(X[test])[:, 1]
    model = LogisticRegression(C=1.0, max_iter=1000).fit(X, y)
    threshold = choose_threshold(oof, d["top3"][free], d["has_truth"][free])
    CALIBRATION_FILE.write_text(json.dumps({
        "intercept": round(float(model.intercept_[0]), 6),
        "coef": {k: round(float(w), 6) for k, w in zip(FEATURES, model.coef_[0], strict=True)},
        "threshold": round(threshold, 3),
        "obtained_by": (
            "python bench/runbooks_eval.py --calibrate: logistic regression (scikit-learn, C=1) of "
            "P(top runbook is the right one) on the hybrid's top-hit features, fitted on "
            f"{int(free.sum())} queries from bench/data/alert-rules/alerts.jsonl (summary + "
            "description, with and without the alert name; queries naming an alert, known or "
            "unknown to the corpus, are settled by the name rules and left out). Threshold: the "
            "highest out-of-fold (5-fold GroupKFold by alert name) confidence that keeps answered "
            f"recall@3 >= {RECALL_FLOOR} on the alerts with a runbook."
        ),
    }, indent=2) + "\n")
    # Out-of-fold answer rates for the queries the calibration decides.
    conf = np.where(d["named"], 1.0, 0.0)
    conf[free] = oof
    found = conf >= threshold
    ht = d["has_truth"]
    return {
        "threshold": threshold,
        "fitted_on": int(free.sum()),
        "oof_answered_recall_at_3_without_name": round(float(np.mean(
            (found & d["top3"])[ht & ~np.array([q.with_name for q in queries])])), 4),
        "oof_none_when_no_runbook_without_name": round(float(np.mean(
            (~found)[~ht & ~np.array([q.with_name for q in queries])])), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=Path, default=default_rules_path())
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "runbooks_eval.json")
    args = ap.parse_args()

    queries = build_queries(load_rules(args.rules))
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as home:
        t0 = time.perf_counter()
        kb = KnowledgeBase.from_settings(SimpleNamespace(home=Path(home), chroma_url=None))
        report = kb.ensure_default_corpus()
        print(f"open + ingest: {report.documents} runbooks, {report.chunks} chunks, "
              f"{report.embedded} embedded, {time.perf_counter() - t0:.2f} s")
        if args.calibrate:
            cal = calibrate(kb, queries)
            retrieval.default_calibration.cache_clear()
            kb.calibration = retrieval.default_calibration()
            kb.threshold = kb.calibration.threshold
            out["calibration"] = cal
            print(f"calibration written to {CALIBRATION_FILE.relative_to(ROOT)}: {cal}")
        t0 = time.perf_counter()
        result = evaluate(kb, queries)
        print(f"{len(queries)} queries evaluated in {time.perf_counter() - t0:.1f} s\n")
    print(format_report(result))
    out["report"] = result.model_dump()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
