"""The proactive scan: which metric conditions deserve a post, and what to do with the posts.

A condition's identity is its key — (kind, service, signal) or (kind, the series' labels) —
never its text, so one condition is posted once, updated in place when its text changes, and
resolved when it is no longer found. `plan()` is pure; `scan()` reads through the tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from tools.contract import ToolContext
from tools.metrics.models import ForecastReport, MetricsReport


@dataclass(frozen=True)
class Finding:
    key: str
    kind: Literal["anomaly", "exhaustion"]
    text: str


@dataclass(frozen=True)
class Action:
    kind: Literal["post", "update", "resolve"]
    key: str
    text: str


def plan(posted: dict[str, str], findings: list[Finding]) -> list[Action]:
    """posted: key -> text of the message already in the channel."""
    now = {f.key: f for f in findings}
    actions = [Action("post", k, f.text) for k, f in now.items() if k not in posted]
    actions += [Action("update", k, f.text) for k, f in now.items() if k in posted and posted[k] != f.text]
    actions += [Action("resolve", k, posted[k]) for k in posted if k not in now]
    return actions


def scan(ctx: ToolContext, services: list[str], *, window: str = "2h", recent: timedelta = timedelta(minutes=30),
         horizon: str = "2d", firing: set[str] | None = None) -> list[Finding]:
    """Anomalous golden signals (within `recent`) of services with no alert firing, and
    resources that run out within `horizon`. Read errors skip a service, never the scan."""
    from bot.render.metrics import (  # text only; identity is the key
        forecast_sentence,
        mark_sentence,
    )
    from tools.metrics.tool import forecast_exhaustion, service_metrics

    out: list[Finding] = []
    since = ctx.now() - recent
    for svc in services:
        if svc in (firing or set()):
            continue  # an alert already speaks for it
        res = service_metrics.run(ctx, {"service": svc, "window": window}, actor="metrics-scan")
        if not res.ok or not isinstance(res.output, MetricsReport):
            continue
        for sig in res.output.signals:
            marks = [m for m in sig.anomalies if m.at >= since]
            if marks:
                out.append(Finding(f"anomaly:{svc}:{sig.signal}", "anomaly",
                                   f":warning: {mark_sentence(svc, sig.signal, marks[-1])} (no alert firing)"))
    fc = forecast_exhaustion.run(ctx, {"target": "disk", "window": "7d", "horizon": horizon}, actor="metrics-scan")
    if fc.ok and isinstance(fc.output, ForecastReport):
        for line in fc.output.lines:
            if line.hours is None:
                continue
            ident = ",".join(f"{k}={v}" for k, v in sorted(line.labels.items()))
            out.append(Finding(f"exhaustion:disk:{ident}", "exhaustion",
                               f":hourglass: {forecast_sentence(line, fc.output.horizon_hours)}"))
    return out
