"""Runbook-search evaluation on real alert rules: queries, ground truth, recall@k and MRR.

Queries are the rules' summary + description with their Go-template placeholders filled with
plausible values, once with and once without the alert name; the truth is the rule's
`runbook_path` (null: the corpus has no runbook for it, and "none" is the right answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from knowledge.sources import DEFAULT_CORPUS

LABEL_VALUES = {
    "cluster": "prod-eu-1",
    "namespace": "payments",
    "instance": "10.0.3.17:9100",
    "pod": "checkout-api-7d9f8b6c5-x2kqp",
    "device": "nvme0n1",
    "node": "ip-10-0-3-17.eu-west-1.compute.internal",
    "job": "checkout-api",
    "mountpoint": "/var/lib/docker",
    "controller": "prometheus",
    "resource": "memory",
    "persistentvolumeclaim": "data-postgres-0",
    "persistentvolume": "pvc-3f1c2a9e",
    "name": "containerd.service",
    "integration": "slack",
    "container": "checkout-api",
    "deployment": "checkout-api",
    "statefulset": "postgres",
    "daemonset": "node-exporter",
    "remote_name": "thanos-receive",
    "url": "http://thanos-receive:19291/api/v1/receive",
    "grpc_method": "Range",
    "grpc_service": "etcdserverpb.KV",
    "reason": "CrashLoopBackOff",
    "job_name": "nightly-report-28911340",
    "horizontalpodautoscaler": "checkout-api",
    "service": "kube-state-metrics",
    "poddisruptionbudget": "checkout-api",
    "phase": "Pending",
    "condition": "MemoryPressure",
    "eviction_signal": "memory.available",
    "master": "bond0",
    "mechanism": "kubernetes",
    "alertmanager": "alertmanager-main",
    "To": "etcd-2",
    "interface": "eth0",
    "verb": "LIST",
    "code": "503",
    "type": "Ready",
    "version": "v1.30.4",
}

_WITH = re.compile(r"\{\{-?\s*with\s+\$labels\.(\w+)\s*-?\}\}(.*?)\{\{-?\s*end\s*-?\}\}", re.S)
_DOT = re.compile(r"\{\{-?\s*\.\s*-?\}\}")
_LABEL = re.compile(r"\{\{-?\s*\$labels\.(\w+)\s*-?\}\}")
_TEMPLATE = re.compile(r"\{\{-?(.*?)-?\}\}", re.S)


def _value(expr: str) -> str:
    """A plausible rendering of a `$value` expression."""
    if "humanizePercentage" in expr:
        return "7.5%"
    if "humanizeDuration" in expr:
        m = re.search(r'"(\d+)"', expr)
        secs = int(m.group(1)) if m else 3600
        return f"{secs // 3600}h {secs % 3600 // 60}m {secs % 60}s"
    if "humanize" in expr:
        return "1.2k"
    if "$value" in expr:
        return "93.41" if "printf" in expr and "%.2f" in expr else "3"
    if "$labels." in expr:
        m = re.search(r"\$labels\.(\w+)", expr)
        return LABEL_VALUES.get(m.group(1), f"{m.group(1)}-1") if m else ""
    return ""


def fill_template(text: str | None) -> str:
    """Fill Prometheus alert template placeholders with plausible values."""
    if not text:
        return ""
    # Go template trim markers: "{{-" eats the whitespace before, "-}}" the whitespace after.
    text = re.sub(r"\s*\{\{-", "{{", text)
    text = re.sub(r"-\}\}\s*", "}}", text)
    text = _WITH.sub(lambda m: _DOT.sub(LABEL_VALUES.get(m.group(1), f"{m.group(1)}-1"), m.group(2)), text)
    text = _LABEL.sub(lambda m: LABEL_VALUES.get(m.group(1), f"{m.group(1)}-1"), text)
    text = _TEMPLATE.sub(lambda m: _value(m.group(1)), text)
    return " ".join(text.split())


class EvalQuery(BaseModel):
    alertname: str
    with_name: bool
    text: str
    truth: str | None  # doc id, or None when no runbook exists


def load_rules(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def build_queries(rules: Iterable[dict[str, Any]], corpus: str = DEFAULT_CORPUS) -> list[EvalQuery]:
    out: list[EvalQuery] = []
    for r in rules:
        body = f"{fill_template(r.get('summary'))} {fill_template(r.get('description'))}".strip()
        truth = f"{corpus}/{r['runbook_path']}" if r.get("runbook_path") else None
        out.append(EvalQuery(alertname=r["alertname"], with_name=False, text=body, truth=truth))
        out.append(EvalQuery(alertname=r["alertname"], with_name=True, text=f"{r['alertname']}: {body}", truth=truth))
    return out


class Metrics(BaseModel):
    n: int
    recall_at_1: float
    recall_at_3: float
    mrr: float


def rank_metrics(ranked: Sequence[Sequence[str]], truths: Sequence[str]) -> Metrics:
    """recall@k and MRR over queries that have a ground-truth runbook."""
    r1 = r3 = rr = 0.0
    for docs, truth in zip(ranked, truths, strict=True):
        if truth in docs:
            pos = list(docs).index(truth) + 1
            r1 += pos == 1
            r3 += pos <= 3
            rr += 1.0 / pos
    n = len(truths)
    return Metrics(
        n=n,
        recall_at_1=round(r1 / n, 4) if n else 0.0,
        recall_at_3=round(r3 / n, 4) if n else 0.0,
        mrr=round(rr / n, 4) if n else 0.0,
    )


class RankRow(BaseModel):
    variant: str
    retriever: str
    metrics: Metrics


class AnswerRow(BaseModel):
    """As users get it: an answer only when found; 'none' is right for alerts with no runbook."""

    variant: str
    answered_recall_at_3: float
    answered_wrong_top1: float
    none_when_no_runbook: float
    no_runbook_alerts: int


class EvalReport(BaseModel):
    queries: int
    threshold: float
    ranking: list[RankRow]
    answers: list[AnswerRow]


RETRIEVERS = (
    ("bm25", "bm25", False),
    ("dense", "dense", False),
    ("hybrid (RRF)", "hybrid", False),
    ("hybrid + alert-name rule", "hybrid", True),
)


def evaluate(kb: Any, queries: Sequence[EvalQuery]) -> EvalReport:
    """Ranking metrics per retriever and answer rates with the knowledge base's threshold."""
    ranking: list[RankRow] = []
    answers: list[AnswerRow] = []
    for with_name in (False, True):
        variant = "with name" if with_name else "without name"
        subset = [q for q in queries if q.with_name == with_name]
        known = [(q, q.truth) for q in subset if q.truth]
        truths = [truth for _, truth in known]
        for label, mode, rule in RETRIEVERS:
            ranked = [[h.doc_id for h in kb.search(q.text, k=10, mode=mode, use_alert_names=rule).hits]
                      for q, _ in known]
            ranking.append(RankRow(variant=variant, retriever=label,
                                   metrics=rank_metrics(ranked, truths)))
        right3 = wrong1 = none = 0
        for q in subset:
            r = kb.search(q.text, k=3)
            top = [h.doc_id for h in r.hits]
            if q.truth:
                right3 += r.found and q.truth in top
                wrong1 += r.found and top[:1] != [q.truth]
            else:
                none += not r.found
        n_known, n_none = len(known), len(subset) - len(known)
        answers.append(AnswerRow(
            variant=variant,
            answered_recall_at_3=round(right3 / n_known, 4) if n_known else 0.0,
            answered_wrong_top1=round(wrong1 / n_known, 4) if n_known else 0.0,
            none_when_no_runbook=round(none / n_none, 4) if n_none else 0.0,
            no_runbook_alerts=n_none,
        ))
    return EvalReport(queries=len(queries), threshold=kb.threshold, ranking=ranking, answers=answers)


def format_report(report: EvalReport) -> str:
    lines = [f"{'variant':14} {'retriever':26} {'n':>4} {'R@1':>6} {'R@3':>6} {'MRR':>6}"]
    for row in report.ranking:
        m = row.metrics
        lines.append(f"{row.variant:14} {row.retriever:26} {m.n:4d} {m.recall_at_1:6.3f} "
                     f"{m.recall_at_3:6.3f} {m.mrr:6.3f}")
    lines.append(f"\nanswers at the confidence bar {report.threshold:.3f}:")
    for a in report.answers:
        lines.append(f"  {a.variant:13} answered recall@3 {a.answered_recall_at_3:.3f} · answered with a "
                     f"wrong top-1 {a.answered_wrong_top1:.3f} · 'none' for the {a.no_runbook_alerts} "
                     f"no-runbook alerts {a.none_when_no_runbook:.3f}")
    return "\n".join(lines)


def default_rules_path() -> Path:
    """bench/data/alert-rules/alerts.jsonl of a source checkout."""
    return Path(__file__).resolve().parent.parent / "bench" / "data" / "alert-rules" / "alerts.jsonl"
