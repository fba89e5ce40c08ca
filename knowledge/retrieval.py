"""Pure ranking maths: chunk scores -> runbook ranking, reciprocal rank fusion, alert names, confidence."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from knowledge.models import split_identifier

RRF_K = 60  # Cormack et al. (2009); the usual constant
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def best_per_doc(chunk_doc: Sequence[str], chunk_scores: Iterable[float]) -> dict[str, float]:
    """A runbook scores as its best chunk."""
    best: dict[str, float] = {}
    for doc, s in zip(chunk_doc, chunk_scores, strict=True):
        if doc not in best or s > best[doc]:
            best[doc] = float(s)
    return best


def ranking(doc_scores: Mapping[str, float], *, min_score: float | None = None) -> list[str]:
    """Docs by descending score (ties by id, for a stable order); docs at or under min_score dropped."""
    items = [(d, s) for d, s in doc_scores.items() if min_score is None or s > min_score]
    return [d for d, _ in sorted(items, key=lambda x: (-x[1], x[0]))]


def rrf(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: sum over rankings of 1 / (k + rank), rank from 1."""
    fused: dict[str, float] = {}
    for r in rankings:
        for pos, doc in enumerate(r, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + pos)
    return fused


def verbatim_alert_docs(query: str, alert_index: Mapping[str, Sequence[str]]) -> list[str]:
    """Docs whose alert name appears as a whole word in the query (case-insensitive),
    in order of appearance. `alert_index` maps lower-cased alert name -> doc ids."""
    out: list[str] = []
    for tok in _TOKEN.findall(query):
        for doc in alert_index.get(tok.lower(), ()):
            if doc not in out:
                out.append(doc)
    return out


@dataclass(frozen=True)
class Calibration:
    """Logistic model P(top runbook is right | features), and the bar under which we say none."""

    intercept: float
    coef: dict[str, float]
    threshold: float
    source: str = ""

    def confidence(self, features: Mapping[str, float]) -> float:
        z = self.intercept + sum(w * features.get(name, 0.0) for name, w in self.coef.items())
        return 1.0 / (1.0 + math.exp(-z))


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    data = json.loads((resources.files("knowledge") / "calibration.json").read_text())
    return Calibration(
        intercept=float(data["intercept"]),
        coef={k: float(v) for k, v in data["coef"].items()},
        threshold=float(data["threshold"]),
        source=str(data.get("obtained_by", "")),
    )


# Kubernetes kinds, pod reasons and conditions look like alert names but are vocabulary.
K8S_TERMS = frozenset(t.lower() for t in ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "RunContainerError", "ContainerCreating", "PodInitializing", "OOMKilled", "NodeNotReady", "KubeletNotReady", "NetworkUnavailable", "MemoryPressure", "DiskPressure", "PIDPressure", "PersistentVolumeClaim", "PersistentVolume", "HorizontalPodAutoscaler", "VerticalPodAutoscaler", "PodDisruptionBudget", "CustomResourceDefinition", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "PriorityClass", "NetworkPolicy", "ResourceQuota", "LimitRange", "ServiceAccount", "ClusterRoleBinding", "RoleBinding", "ClusterRole", "PodSecurityPolicy", "DeadlineExceeded", "BackoffLimitExceeded", "FailedScheduling", "FailedMount", "FailedAttachVolume"])


def unknown_alert_names(query: str, known_terms: Container[str]) -> list[str]:
    """The alert a query leads with ("KubeDeploymentRolloutStuck: rollout stuck…", as the
    incident path and people write it) when it is alert-like (camelCase, 3+ words), no
    runbook mentions it and it is not Kubernetes vocabulary: we have no runbook for it."""
    tokens = _TOKEN.findall(query[:200])
    if not tokens:
        return []
    tok = tokens[0]
    low = tok.lower()
    if len(tok) < 10 or low in known_terms or low in K8S_TERMS or not any(c.isupper() for c in tok):
        return []
    return [tok] if len(split_identifier(tok).split()) >= 3 else []


def confidence_features(
    top: str,
    dense: Mapping[str, float],
    bm25: Mapping[str, float],
    dense_rank: Sequence[str],
    bm25_rank: Sequence[str],
) -> dict[str, float]:
    """What the calibration looks at for the top runbook: how similar, by how much ahead,
    and whether the two retrievers agree."""
    d_sorted = sorted(dense.values(), reverse=True)
    d_top = dense.get(top, 0.0)
    d_second = max((s for doc, s in dense.items() if doc != top), default=0.0)
    b_top = bm25.get(top, 0.0)
    b_second = max((s for doc, s in bm25.items() if doc != top), default=0.0)
    return {
        "dense_top": d_top,
        "dense_margin": d_top - d_second,
        "dense_best": d_sorted[0] if d_sorted else 0.0,
        "bm25_share": b_top / (b_top + b_second) if b_top + b_second > 0 else 0.0,
        "agree": 1.0 if dense_rank[:1] == [top] and bm25_rank[:1] == [top] else 0.0,
    }
