"""Golden-signal PromQL templates and the pure analysis of one signal's series: where the
streaming detector fires, how big the change is against the baseline, and which deployment
of the service precedes it."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from tools.errors import ToolError
from tools.metrics.anomaly import score_series
from tools.metrics.models import AnomalyMark

# Defaults for the common exporters (Prometheus client libraries' http_* metrics, node_exporter).
DEFAULT_SIGNALS: dict[str, str] = {
    "latency": 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="{service}"}[5m])))',
    "traffic": 'sum(rate(http_requests_total{service="{service}"}[5m]))',
    "errors": 'sum(rate(http_requests_total{service="{service}",code=~"5.."}[5m])) '
              '/ sum(rate(http_requests_total{service="{service}"}[5m]))',
    "saturation": 'avg(rate(process_cpu_seconds_total{service="{service}"}[5m]))',
}
DISK_QUERY = ('1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"{sel}} '
              '/ node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"{sel}}')
MEMORY_QUERY = "1 - node_memory_MemAvailable_bytes{{sel}} / node_memory_MemTotal_bytes{{sel}}"
THRESHOLD = 0.41  # the detector's NAB-optimal threshold (bench/anomaly.py, standard profile)
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def check_service_name(name: str) -> str:
    """A service name goes inside a PromQL string: only safe characters (no injection)."""
    if not _NAME.match(name):
        raise ToolError(f"'{name[:60]}' is not a valid service name (letters, digits, _ . : - only)")
    return name


def signal_queries(service: str, overrides: dict[str, str] | None = None) -> dict[str, str]:
    check_service_name(service)
    merged = {**DEFAULT_SIGNALS, **(overrides or {})}
    return {k: v.replace("{service}", service) for k, v in merged.items()}


def resource_query(target: str, service: str | None) -> str:
    sel = f',service="{check_service_name(service)}"' if service else ""
    if target == "disk":
        return DISK_QUERY.replace("{sel}", sel)
    if target == "memory":
        return MEMORY_QUERY.replace("{{sel}}", "{" + sel.lstrip(",") + "}" if sel else "")
    return target


def find_changes(timestamps: Sequence[float], values: Sequence[float],
                 deploys: Sequence[tuple[str, float]] = (), threshold: float = THRESHOLD,
                 deploy_lookback_s: float = 3600.0, max_marks: int = 3) -> list[AnomalyMark]:
    """Anomalies of one series: the first point of each burst of detector scores >= threshold
    (bursts closer than 30 points merge) whose level moved beyond 3 robust spreads of the
    baseline (a new extreme by a hair is not worth a line), with the change's ratio to the
    pre-change median and the latest deployment in the hour before it."""
    v = np.asarray(values, dtype=float)
    if len(v) < 20:
        return []
    scores = score_series(v, times=np.asarray(timestamps, dtype=float))
    hits = np.flatnonzero(scores >= threshold)
    marks: list[AnomalyMark] = []
    last = -(10**9)
    for i in (int(h) for h in hits):
        if i - last < 30:
            last = i
            continue
        last = i
        before = v[max(0, i - 60):i]
        after = v[i:i + 10]
        base = float(np.nanmedian(before)) if np.isfinite(before).any() else math.nan
        now = float(np.nanmedian(after)) if np.isfinite(after).any() else float(v[i])
        fb = before[np.isfinite(before)]
        if len(fb) >= 5:  # a mark is a material change: beyond 3 robust spreads of the baseline
            spread = 1.4826 * float(np.median(np.abs(fb - np.median(fb))))
            if abs(now - float(np.median(fb))) <= 3 * spread:
                continue
        ratio = now / base if base and math.isfinite(base) and base != 0 else None
        at = float(timestamps[i])
        prior = [(d, t) for d, t in deploys if at - deploy_lookback_s <= t <= at]
        dep = max(prior, key=lambda p: p[1]) if prior else None
        marks.append(AnomalyMark(
            at=datetime.fromtimestamp(at, UTC), value=now, baseline=base if math.isfinite(base) else 0.0,
            ratio=ratio, score=float(scores[i]), deploy=dep[0] if dep else None,
            minutes_after_deploy=(at - dep[1]) / 60 if dep else None))
    marks.sort(key=lambda m: -m.score)
    return sorted(marks[:max_marks], key=lambda m: m.at)
