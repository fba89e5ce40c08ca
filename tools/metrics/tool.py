"""The `service_metrics` and `forecast_exhaustion` tools: Prometheus reads, then the pure
analyses (tools.metrics.signals, tools.metrics.forecast)."""

from __future__ import annotations

import math

import numpy as np

from tools.contract import ToolContext, tool
from tools.errors import BackendUnreachable, NoDataError, ToolError
from tools.metrics.forecast import time_to_exhaustion
from tools.metrics.models import (
    ExhaustionLine,
    ForecastQuery,
    ForecastReport,
    MetricsQuery,
    MetricsReport,
    SignalReport,
)
from tools.metrics.prometheus import PrometheusClient
from tools.metrics.signals import find_changes, resource_query, signal_queries
from tools.timeutil import parse_window

MAX_FORECAST_LINES = 10


def _deploys(ctx: ToolContext, service: str, start: float, end: float) -> list[tuple[str, float]]:
    from tools.store.delivery import recent_deployments

    with ctx.store.engine.connect() as conn:
        rows = recent_deployments(conn, [service], start - 3600, end, limit=200)
    return [(str(r["id"]), float(r["finished_at"])) for r in rows if r.get("finished_at") is not None]


@tool(
    "service_metrics",
    "A service's golden signals (latency, traffic, errors, saturation) from Prometheus over a "
    "window, with anomalies and change points marked and the deployment that precedes each.",
)
def service_metrics(ctx: ToolContext, args: MetricsQuery) -> MetricsReport:
    window = parse_window(args.window)
    end = ctx.now().timestamp()
    start = end - window.total_seconds()
    svc = ctx.catalog.service(args.service)
    queries = signal_queries(args.service, svc.promql if svc else None)
    deploys = _deploys(ctx, args.service, start, end)
    reports: list[SignalReport] = []
    with PrometheusClient.from_settings(ctx.settings) as prom:
        for name, q in queries.items():
            try:
                res = prom.query_range(q, start, end)
            except NoDataError:
                reports.append(SignalReport(signal=name, query=q, error="no data"))
                continue
            except BackendUnreachable:
                raise  # the other signals would wait for the same timeout: say so once
            except ToolError as exc:  # this signal's query refused: the others may still answer
                reports.append(SignalReport(signal=name, query=q, error=str(exc)))
                continue
            s = res.series[0]
            vals = np.asarray(s.values, dtype=float)
            finite = vals[np.isfinite(vals)]
            reports.append(SignalReport(
                signal=name, query=q, points=len(vals),
                last=float(finite[-1]) if len(finite) else None,
                baseline=float(np.median(finite)) if len(finite) else None,
                anomalies=find_changes(s.timestamps, s.values, deploys)))
    if all(r.error for r in reports):
        raise NoDataError(f"no golden signal of {args.service} in Prometheus over {args.window}",
                          hint="Add PromQL templates under the service's `promql:` in services.yaml.")
    return MetricsReport(service=args.service, window=args.window, signals=reports)


@tool(
    "forecast_exhaustion",
    "When a resource (disk, memory, or any PromQL level) runs out at the current trend, with an "
    "80 % interval; daily and weekly patterns and past cleanups are accounted for.",
)
def forecast_exhaustion(ctx: ToolContext, args: ForecastQuery) -> ForecastReport:
    window = parse_window(args.window).total_seconds()
    horizon = parse_window(args.horizon).total_seconds()
    target = args.target.strip()
    query = resource_query(target.lower(), args.service) if target.lower() in {"disk", "memory"} else target
    limit = args.limit if args.limit is not None else 1.0
    if not math.isfinite(limit):
        raise ToolError("limit must be a finite number")
    end = ctx.now().timestamp()
    with PrometheusClient.from_settings(ctx.settings) as prom:
        res = prom.query_range(query, end - window, end)
    lines: list[ExhaustionLine] = []
    for s in res.series:
        t = np.asarray(s.timestamps, dtype=float)
        y = np.asarray(s.values, dtype=float)
        ok = np.isfinite(y)
        if ok.sum() < 10 or end - float(t[ok][-1]) > max(3 * res.step, 900):
            continue  # too few points, or stale: a series that stopped reporting forecasts nothing
        f = time_to_exhaustion(t, y, limit, horizon)
        lines.append(ExhaustionLine(
            labels=s.labels, current=f.current, limit=limit, hours=f.hours,
            low_hours=None if f.low is None else f.low / 3600, high_hours=None if f.high is None else f.high / 3600,
            slope_per_hour=f.slope_per_hour, seasonal=list(f.seasonal), steps=f.steps))
    if not lines:
        raise NoDataError(f"no recent series with 10 usable points for {query!r} over {args.window}")
    lines.sort(key=lambda x: x.hours if x.hours is not None else math.inf)
    return ForecastReport(target=target, query=query, window=args.window, horizon_hours=horizon / 3600,
                          lines=lines[:MAX_FORECAST_LINES])
