"""Runbook search quality on real alert rules, and calibration of the "no runbook" bar.

    python bench/runbooks_eval.py                 # evaluate with the shipped calibration
    python bench/runbooks_eval.py --calibrate     # refit knowledge/calibration.json, then evaluate

Ranking metrics (recall@1, recall@3, MRR) are over alerts that have a runbook, for BM25 alone,
dense alone, the RRF hybrid, and the hybrid with the verbatim-alert-name rule (what users get).
"none" rate: alerts with no runbook for which the search answers found=False.
With --calibrate, the reported answer figures use out-of-fold confidences (5 folds grouped by
alert name), so they are not measured on the data the calibration was fitted to.
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
from knowledge.evaluation import build_queries, load_rules, rank_metrics  # noqa: E402
from knowledge.index import KnowledgeBase  # noqa: E402

FEATURES = ["dense_top", "dense_margin", "bm25_share", "agree"]
CALIBRATION_FILE = ROOT / "knowledge" / "calibration.json"
DEFAULT_RULES = ROOT / "bench" / "data" / "alert-rules" / "alerts.jsonl"
RECALL_FLOOR = 0.95  # the target for hybrid recall@3 without the alert name


def top_features(kb: KnowledgeBase, text: str) -> tuple[dict[str, float], list[str], bool, bool]:
    """Features of the hybrid's top runbook (as KnowledgeBase.search computes them)."""
    snap = kb.snapshot()
    bm25, _ = snap.bm25_doc_scores(text)
    dense, _ = kb.dense_doc_scores(text, snap)
    b_rank, d_rank = retrieval.ranking(bm25, min_score=0.0), retrieval.ranking(dense)
    order = retrieval.ranking(retrieval.rrf([b_rank, d_rank]))
    feats = retrieval.confidence_features(order[0], dense, bm25, d_rank, b_rank)
    named = retrieval.verbatim_alert_docs(text, snap.alert_index)
    unknown = not named and bool(retrieval.unknown_alert_names(text, snap.vocabulary))
    order = named + [d for d in order if d not in named]  # what users get
    return feats, order, bool(named), unknown


def fit(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[object, np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(X, y, groups):
        m = LogisticRegression(C=1.0, max_iter=1000).fit(X[train], y[train])
        oof[test] = m.predict_proba(X[test])[:, 1]
    return LogisticRegression(C=1.0, max_iter=1000).fit(X, y), oof


def choose_threshold(conf: np.ndarray, in_top3: np.ndarray, has_truth: np.ndarray) -> float:
    """The highest bar that keeps answered recall@3 (found and right runbook in the top 3) at or
    above RECALL_FLOOR on alerts with a runbook: it says "none" as often as that allows."""
    best = 0.0
    for t in np.unique(np.round(conf, 3)):
        answered_recall = np.mean((conf[has_truth] >= t) & in_top3[has_truth])
        if answered_recall >= RECALL_FLOOR:
            best = max(best, float(t))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=Path, default=DEFAULT_RULES)
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "runbooks_eval.json")
    args = ap.parse_args()

    queries = build_queries(load_rules(args.rules))
    with tempfile.TemporaryDirectory() as home:
        kb = KnowledgeBase.from_settings(SimpleNamespace(home=Path(home), chroma_url=None))
        t0 = time.perf_counter()
        report = kb.ensure_default_corpus()
        ingest_s = time.perf_counter() - t0
        print(f"ingest: {report.documents} runbooks, {report.chunks} chunks, "
              f"{report.embedded} embedded, {ingest_s:.2f} s")

        # -- calibration data: every query the alert-name rule does not settle ----------------
        feats, labels, top3, truths, groups, named_flags, unknown_flags = [], [], [], [], [], [], []
        for q in queries:
            f, order, named, unknown = top_features(kb, q.text)
            unknown_flags.append(unknown)
            feats.append([f[k] for k in FEATURES])
            labels.append(int(q.truth is not None and order[0] == q.truth))
            top3.append(q.truth is not None and q.truth in order[:3])
            truths.append(q.truth is not None)
            groups.append(q.alertname)
            named_flags.append(named)
        X, y = np.array(feats), np.array(labels)
        in_top3, has_truth = np.array(top3), np.array(truths)
        named_arr = np.array(named_flags)
        unknown_arr = np.array(unknown_flags)
        free = ~named_arr & ~unknown_arr  # the calibration decides only these
        if args.calibrate:
            model, oof = fit(X[free], y[free], np.array(groups)[free])
            conf_free = oof
            conf_all = np.where(named_arr, 1.0, 0.0)
            conf_all[free] = conf_free
            threshold = choose_threshold(conf_all[free], in_top3[free], has_truth[free])
            CALIBRATION_FILE.write_text(json.dumps({
                "intercept": round(float(model.intercept_[0]), 6),
                "coef": {k: round(float(w), 6) for k, w in zip(FEATURES, model.coef_[0], strict=True)},
                "threshold": round(threshold, 3),
                "obtained_by": (
                    "python bench/runbooks_eval.py --calibrate: logistic regression (scikit-learn, C=1) "
                    "of P(top runbook is the right one) on the hybrid's top-hit features, fitted on "
                    f"{int(free.sum())} queries from bench/data/alert-rules/alerts.jsonl (summary + "
                    "description, with and without alert name; those naming an alert, known or unknown to "
                    "the corpus, are settled by the name rules and left out). Threshold: the highest "
                    f"out-of-fold (5-fold GroupKFold by alert name) confidence keeping answered "
                    f"recall@3 >= {RECALL_FLOOR} on alerts with a runbook."
                ),
            }, indent=2) + "\n")
            retrieval.default_calibration.cache_clear()
            kb.calibration = retrieval.default_calibration()
            kb.threshold = kb.calibration.threshold
            print(f"calibration written to {CALIBRATION_FILE.relative_to(ROOT)} "
                  f"(threshold {threshold:.3f})")

        # -- ranking metrics per retriever ---------------------------------------------------
        results: dict[str, object] = {"ingest_seconds": round(ingest_s, 3), "queries": len(queries)}
        table = []
        for with_name in (False, True):
            subset = [q for q in queries if q.with_name == with_name and q.truth]
            for label, mode, rule in (("bm25", "bm25", False), ("dense", "dense", False),
                                      ("hybrid (RRF)", "hybrid", False),
                                      ("hybrid + alert-name rule", "hybrid", True)):
                ranked = [[h.doc_id for h in kb.search(q.text, k=10, mode=mode, use_alert_names=rule).hits]
                          for q in subset]
                m = rank_metrics(ranked, [q.truth for q in subset])
                table.append((("with" if with_name else "without") + " name", label, m))
        # -- answers as users get them: found / none --------------------------------------
        answers = {}
        for with_name in (False, True):
            sub = [i for i, q in enumerate(queries) if q.with_name == with_name]
            conf = []
            for i in sub:
                if args.calibrate:
                    conf.append(float(conf_all[i]) if not unknown_arr[i] else 0.0)
                else:
                    r = kb.search(queries[i].text, k=3)
                    conf.append(r.confidence if r.found else 0.0)
            conf = np.array(conf)
            found = conf >= kb.threshold
            ht = has_truth[sub]
            answers["with name" if with_name else "without name"] = {
                "answered_recall_at_3": round(float(np.mean(found[ht] & in_top3[sub][ht])), 4),
                "answered_wrong_top1": round(float(np.mean(found[ht] & (y[sub][ht] == 0))), 4),
                "none_when_no_runbook": round(float(np.mean(~found[~ht])), 4),
                "no_runbook_alerts": int((~ht).sum()),
            }
        results["ranking"] = [{"variant": v, "retriever": r, **m.model_dump()} for v, r, m in table]
        results["answers"] = answers
        results["threshold"] = kb.threshold
        results["calibration_out_of_fold"] = bool(args.calibrate)

    print(f"\n{'variant':14} {'retriever':26} {'n':>4} {'R@1':>6} {'R@3':>6} {'MRR':>6}")
    for v, r, m in table:
        print(f"{v:14} {r:26} {m.n:4d} {m.recall_at_1:6.3f} {m.recall_at_3:6.3f} {m.mrr:6.3f}")
    print(f"\nanswers at threshold {kb.threshold:.3f}"
          f" ({'out-of-fold confidences' if args.calibrate else 'shipped calibration'}):")
    for v, a in answers.items():
        print(f"  {v:13} answered recall@3 {a['answered_recall_at_3']:.3f}  "
              f"answered with a wrong top-1 {a['answered_wrong_top1']:.3f}  "
              f"'none' for the {a['no_runbook_alerts']} no-runbook alerts {a['none_when_no_runbook']:.3f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
