"""A second, structurally different alert-storm generator, to check that what the engine and
the cause ranking learned on `bench/alertstorm.py` is not that generator's shape.

Differences from alertstorm.py, each one a way the first generator could flatter us:
- topology: a random DAG of 25–140 services (not four layers), with a few hub services many
  others depend on, and names that carry no layer hint;
- propagation: per-hop delays lognormal (median 45 s, long tail), a service alerts only with
  probability `alert_probability` once affected (partial alerting: a silent hop in the middle
  of a cascade), and the cascade may skip a hop silently and still reach the next one;
- alerts per service: a root fires as many alerts as a symptom (1–3) unless the shape says
  otherwise, so "the service with the most alerts" is no signal here;
- noise: single alerts, and bursts (a noisy service firing 2–4 alerts at once);
- changes: some faults follow a deployment on their root (5–40 min before), and unrelated
  deployments land elsewhere all the time (decoys);
- delivery: one notification per firing alert (no periodic re-sends), 3 % retried.

Every alert occurrence records its true incident (a fault id, or its own noise id).
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tools.alerts.models import (
    Alert,
    AlertLinks,
    ChangeEvent,
    label_fingerprint,
    normalise_severity,
)
from tools.alerts.ruletext import render
from tools.catalog import Service, ServiceCatalog

SERVICE_GROUPS = ("kubernetes-apps", "kubernetes-resources", "kubernetes-storage", "node-exporter", "etcd")


@dataclass(frozen=True)
class Shape:
    hours: float = 6.0
    services: tuple[int, int] = (25, 140)
    gap_min: tuple[float, float] = (10.0, 40.0)  # between fault starts (uniform)
    duration_min: tuple[float, float] = (10.0, 45.0)
    hop_median_s: float = 45.0
    hop_sigma: float = 0.8
    hop_probability: float = 0.7  # each dependent of an affected service is affected with this
    max_hops: int = 4
    alert_probability: float = 0.8  # an affected (non-root) service alerts at all
    root_alerts: tuple[int, int] = (1, 3)  # inclusive
    symptom_alerts: tuple[int, int] = (1, 3)
    silent_root_probability: float = 0.0
    noise_per_hour: float = 10.0
    noise_burst_probability: float = 0.3  # a noise event is 2–4 alerts on one service
    deploy_cause_probability: float = 0.4  # a fault follows a deployment on its root
    decoy_deploys_per_hour: float = 6.0
    retry_probability: float = 0.03
    unlabelled_probability: float = 0.05


SHAPES: dict[str, Shape] = {
    "g2-mixed": Shape(),
    "g2-dense": Shape(gap_min=(2.0, 8.0), hours=4.0),
    "g2-partial": Shape(alert_probability=0.5, hop_probability=0.8),
    "g2-loud-roots": Shape(root_alerts=(2, 4), symptom_alerts=(1, 2)),
    "g2-silent-root": Shape(silent_root_probability=1.0),
}


def _topology(rng: np.random.Generator, n: int) -> ServiceCatalog:
    """Random DAG: service i depends on 0–3 earlier services, preferring a few hubs."""
    names = [f"svc-{zlib.crc32(f'{i}'.encode()) % 9000 + 1000}-{i}" for i in range(n)]
    hubs = set(range(min(4, n)))
    services = []
    for i, name in enumerate(names):
        deps: set[str] = set()
        if i >= 2:
            k = int(rng.integers(0, 4)) if i > 4 else 1
            for _ in range(k):
                j = int(rng.choice(sorted(hubs))) if rng.random() < 0.3 else int(rng.integers(0, i))
                if j < i:
                    deps.add(names[j])
        services.append(Service(name=name, team=f"team-{i % 7}", depends_on=sorted(deps)))
    return ServiceCatalog(services=services)


def build_storm(seed: int, shape: str | Shape, storm_cls: Callable[..., Any], all_rules: list[dict]) -> Any:
    """A `storm_cls` (alertstorm.Storm: catalog, notifications, truth, roots, silent_roots,
    changes…) from this generator; `all_rules` the alert rule text (alertstorm.load_rules)."""
    sh = SHAPES[shape] if isinstance(shape, str) else shape
    rng = np.random.default_rng(10_000 + seed)
    n = int(rng.integers(sh.services[0], sh.services[1] + 1))
    cat = _topology(rng, n)
    rules = [r for r in all_rules if r["group"] in SERVICE_GROUPS and r["severity"] != "none"]
    dependents: dict[str, list[str]] = defaultdict(list)
    for s in cat.services:
        for d in s.depends_on:
            dependents[d].append(s.name)
    place = {s.name: (f"c{int(rng.integers(0, 2))}", f"ns-{int(rng.integers(0, 5))}") for s in cat.services}
    start = datetime(2026, 11, 9, tzinfo=UTC).timestamp()
    horizon = start + sh.hours * 3600
    events: list[tuple[float, int, Alert]] = []
    truth: dict[str, str] = {}
    roots: dict[str, str] = {}
    silent: set[str] = set()
    changes: list[ChangeEvent] = []
    spans: list[tuple[float, float]] = []
    seq = [0]

    def push(t: float, a: Alert) -> None:
        seq[0] += 1
        events.append((t, seq[0], a))

    def fire(svc: str, t: float, end: float, k: int, tid: str, slot: int) -> None:
        cluster, ns = place[svc]
        for j in range(k):
            rule = rules[int(rng.integers(0, len(rules)))]
            labels = {"alertname": rule["alertname"], "severity": rule["severity"], "cluster": cluster,
                      "namespace": ns, "service": svc, "pod": f"{svc}-5d{slot:x}f-{j:02d}", "job": "kube-state-metrics"}
            if rng.random() < sh.unlabelled_probability:
                del labels["service"]
            ann = {"summary": render(rule.get("summary") or "", labels, 0.5),
                   "description": render(rule.get("description") or "", labels, 0.5)}
            s0 = t + float(rng.uniform(0, 40))
            base = dict(source="alertmanager", fingerprint=label_fingerprint(labels), name=rule["alertname"],
                        service=labels.get("service"), severity=normalise_severity(rule["severity"]),
                        labels=labels, annotations=ann, links=AlertLinks(runbook=rule.get("runbook_url")))
            a = Alert(status="firing", starts_at=datetime.fromtimestamp(s0, UTC), **base)
            truth[a.id] = tid
            push(s0, a)
            if rng.random() < sh.retry_probability:
                push(s0 + float(rng.uniform(1, 5)), a)
            e = max(end, s0 + 60)
            push(e, Alert(status="resolved", starts_at=a.starts_at, ends_at=datetime.fromtimestamp(e, UTC), **base))

    names = cat.service_names
    t, idx = start, 0
    while True:
        t += float(rng.uniform(*sh.gap_min) * 60)
        if t >= horizon:
            break
        tid = f"fault-{idx}"
        with_deps = [x for x in names if dependents.get(x)]
        root = str(rng.choice(with_deps if sh.silent_root_probability and with_deps else names))
        roots[tid] = root
        is_silent = rng.random() < sh.silent_root_probability
        if is_silent:
            silent.add(tid)
        end = t + float(rng.uniform(*sh.duration_min) * 60)
        spans.append((t, end))
        if rng.random() < sh.deploy_cause_probability:
            changes.append(ChangeEvent(kind="deployment", id=f"dep-{tid}", service=root,
                                       at=datetime.fromtimestamp(t - float(rng.uniform(5, 40)) * 60, UTC),
                                       status="success", summary="version v2"))
        if not is_silent:
            fire(root, t, end, int(rng.integers(sh.root_alerts[0], sh.root_alerts[1] + 1)), tid, 0)
        frontier, seen = [(root, t, 0)], {root}
        while frontier:
            svc, ts, hop = frontier.pop(0)
            if hop >= sh.max_hops:
                continue
            for dep in dependents.get(svc, []):
                if dep in seen or rng.random() >= sh.hop_probability:
                    continue
                seen.add(dep)
                td = ts + float(rng.lognormal(np.log(sh.hop_median_s), sh.hop_sigma))
                frontier.append((dep, td, hop + 1))
                if rng.random() < sh.alert_probability:
                    fire(dep, td, end, int(rng.integers(sh.symptom_alerts[0], sh.symptom_alerts[1] + 1)), tid, hop + 1)
        idx += 1
    t, nidx = start, 0
    while True:
        t += float(rng.exponential(3600 / sh.noise_per_hour))
        if t >= horizon:
            break
        svc = str(rng.choice(names))
        k = int(rng.integers(2, 5)) if rng.random() < sh.noise_burst_probability else 1
        fire(svc, t, t + float(rng.uniform(2, 30) * 60), k, f"noise-{nidx}", 9)
        nidx += 1
    t = start - 3600
    while True:
        t += float(rng.exponential(3600 / sh.decoy_deploys_per_hour))
        if t >= horizon:
            break
        changes.append(ChangeEvent(kind="deployment", id=f"decoy-{len(changes)}", service=str(rng.choice(names)),
                                   at=datetime.fromtimestamp(t, UTC), status="success"))
    events.sort(key=lambda e: (e[0], e[1]))
    return storm_cls(catalog=cat, notifications=[a for _, _, a in events], truth=truth, roots=roots,
                     silent_roots=silent, faults=idx, noise=nidx, fault_spans=spans,
                     changes=sorted(changes, key=lambda c: c.at))


def shape_with(name: str, **kw: object) -> Shape:
    return replace(SHAPES[name], **kw)  # type: ignore[arg-type]
