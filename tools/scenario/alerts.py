"""The demo's alert storm: the bad payments deployment breaks payments, then checkout and
web-frontend (they depend on it); meanwhile unrelated background alerts fire and a disk
alert on feature-store flaps. Alertmanager re-sends firing alerts every 5 minutes.

Rule text (alertname, summary, description, runbook) is kube-prometheus' (Apache-2.0,
see ../shared/data/alert-rules/); HighErrorRate/HighLatency are service-level rules of ours.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from tools.alerts.models import Alert, AlertLinks, label_fingerprint, normalise_severity
from tools.alerts.ruletext import render

if TYPE_CHECKING:
    from tools.scenario import Scenario

RB = "https://runbooks.prometheus-operator.dev/runbooks/"
RULES: dict[str, dict[str, str]] = {
    "KubePodCrashLooping": {
        "severity": "warning", "summary": "Pod is crash looping.",
        "description": 'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: "CrashLoopBackOff") on cluster {{ $labels.cluster }}.',
        "runbook_url": RB + "kubernetes/kubepodcrashlooping",
    },
    "KubeDeploymentReplicasMismatch": {
        "severity": "warning", "summary": "Deployment has not matched the expected number of replicas.",
        "description": "Deployment {{ $labels.namespace }}/{{ $labels.deployment }} has not matched the expected number of replicas for longer than 15 minutes on cluster {{ $labels.cluster }}.",
        "runbook_url": RB + "kubernetes/kubedeploymentreplicasmismatch",
    },
    "KubeHpaMaxedOut": {
        "severity": "warning", "summary": "HPA is running at max replicas",
        "description": "HPA {{ $labels.namespace }}/{{ $labels.horizontalpodautoscaler  }} has been running at max replicas for longer than 15 minutes on cluster {{ $labels.cluster }}.",
        "runbook_url": RB + "kubernetes/kubehpamaxedout",
    },
    "CPUThrottlingHigh": {
        "severity": "info", "summary": "Processes experience elevated CPU throttling.",
        "description": "{{ $value | humanizePercentage }} throttling of CPU in namespace {{ $labels.namespace }} for container {{ $labels.container }} in pod {{ $labels.pod }} on cluster {{ $labels.cluster }}.",
        "runbook_url": RB + "kubernetes/cputhrottlinghigh",
    },
    "NodeFilesystemSpaceFillingUp": {
        "severity": "warning", "summary": "Filesystem is predicted to run out of space within the next 24 hours.",
        "description": 'Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf "%.2f" $value }}% available space left and is filling up.',
        "runbook_url": RB + "node/nodefilesystemspacefillingup",
    },
    "HighErrorRate": {
        "severity": "critical", "summary": "{{ $labels.service }}: 5xx ratio above 5%",
        "description": "{{ $value | humanizePercentage }} of {{ $labels.service }} requests fail with 5xx over 5 minutes.",
        "runbook_url": "",
    },
    "HighLatency": {
        "severity": "warning", "summary": "{{ $labels.service }}: p99 latency above 1 s",
        "description": "p99 latency of {{ $labels.service }} is {{ $value }} s over 5 minutes.",
        "runbook_url": "",
    },
}


def _alert(name: str, service: str, start: datetime, end: datetime | None, rng: np.random.Generator,
           pod: int = 0, **extra: str) -> Alert:
    rule = RULES[name]
    labels = {
        "alertname": name, "severity": rule["severity"], "service": service, "cluster": "prod-eu",
        "namespace": service, "pod": f"{service}-6d8f7b9c4-{pod:05x}"[:40], "container": service,
        "deployment": service, "horizontalpodautoscaler": service, **extra,
    }
    value = float(rng.uniform(0.06, 0.4))
    ann = {k: render(rule[k], labels, value) for k in ("summary", "description")}
    if rule["runbook_url"]:
        ann["runbook_url"] = rule["runbook_url"]
    return Alert(
        source="alertmanager", fingerprint=label_fingerprint(labels), name=name, service=service,
        severity=normalise_severity(rule["severity"]), status="firing", labels=labels, annotations=ann,
        starts_at=start, ends_at=end, links=AlertLinks(runbook=rule["runbook_url"] or None,
        generator="http://prometheus.prod-eu:9090/graph"),
    )


def _notifications(a: Alert, until: datetime, repeat: timedelta = timedelta(minutes=5)) -> list[Alert]:
    """Alertmanager's stream for one alert: firing every `repeat`, then resolved if it ended."""
    out = []
    t = a.starts_at
    stop = min(a.ends_at, until) if a.ends_at else until
    while t <= stop:
        out.append(a.model_copy(update={"ends_at": None}))
        t += repeat
    if a.ends_at and a.ends_at <= until:
        out.append(a.model_copy(update={"status": "resolved"}))
    return out


def build_storm(sc: Scenario, rng: np.random.Generator) -> list[Alert]:
    """Every notification the alert webhooks would have received, in time order."""
    bad = sc.bad_deployment
    now = sc.now
    alerts: list[Alert] = []
    if bad is not None:
        t0 = bad.finished_at + timedelta(minutes=4)
        svc = bad.service
        alerts += [
            _alert("HighErrorRate", svc, t0, None, rng),
            _alert("KubePodCrashLooping", svc, t0 + timedelta(seconds=40), None, rng, pod=1),
            _alert("KubePodCrashLooping", svc, t0 + timedelta(seconds=55), None, rng, pod=2),
            _alert("KubeDeploymentReplicasMismatch", svc, t0 + timedelta(minutes=2), None, rng),
        ]
        hop = 1
        frontier = [svc]
        seen = {svc}
        while frontier and hop <= 2:  # symptoms climb the dependency graph
            nxt = []
            for s in frontier:
                for dep in sc.catalog.dependents(s):
                    if dep in seen:
                        continue
                    seen.add(dep)
                    nxt.append(dep)
                    start = t0 + timedelta(seconds=70 * hop + float(rng.uniform(0, 40)))
                    alerts.append(_alert("HighErrorRate", dep, start, None, rng))
                    alerts.append(_alert("HighLatency", dep, start + timedelta(seconds=30), None, rng))
            frontier = nxt
            hop += 1
    # background noise: unrelated, short-lived, hours apart
    quiet = [s for s in sc.catalog.service_names if s not in {"payments", "checkout", "web-frontend"}]
    for i in range(6):
        start = now - timedelta(hours=3) + timedelta(minutes=int(rng.integers(0, 150)))
        svc = quiet[int(rng.integers(0, len(quiet)))]
        name = ["CPUThrottlingHigh", "KubeHpaMaxedOut"][i % 2]
        alerts.append(_alert(name, svc, start, start + timedelta(minutes=int(rng.integers(6, 25))), rng, pod=10 + i))
    # a flapping disk alert on feature-store: fires for ~2 min, resolves for ~3, six times
    t = now - timedelta(hours=2)
    for _ in range(6):
        up = timedelta(seconds=int(rng.integers(90, 150)))
        alerts.append(_alert("NodeFilesystemSpaceFillingUp", "feature-store", t, t + up, rng, pod=99,
                             device="/dev/nvme1n1", mountpoint="/var/lib/feast", instance="10.2.7.14:9100"))
        t += up + timedelta(seconds=int(rng.integers(150, 210)))
    stream = [n for a in alerts for n in _notifications(a, now)]
    stream.sort(key=lambda a: (a.event_time, a.name, a.fingerprint))
    return stream
