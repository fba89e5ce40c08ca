"""Metrics: `/triops metrics SERVICE [window]` (golden signals with anomalies and the deploy
before each change) and `/triops forecast disk|memory|QUERY [service]` (time to exhaustion)."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError
from tools.timeutil import WINDOW_FORMS, looks_like_window

ORDER = 40


def parse_metrics_args(args: list[str]) -> dict[str, Any]:
    words = list(args)
    out: dict[str, Any] = {}
    for w in words:
        if looks_like_window(w) and "window" not in out:
            out["window"] = w
        elif "service" not in out and not w[:1].isdigit():
            out["service"] = w
        else:
            raise ToolError(f"I did not understand '{w}'.",
                            hint=f"Usage: metrics SERVICE [window]; a window is {WINDOW_FORMS}.")
    if "service" not in out:
        raise ToolError("Which service?", hint="Usage: metrics SERVICE [window], e.g. metrics payments 6h")
    return out


def parse_forecast_args(args: list[str]) -> dict[str, Any]:
    if not args:
        raise ToolError("Forecast what?", hint="Usage: forecast disk|memory|QUERY [service] [window]")
    first = args[0].lower()
    if first in {"disk", "memory"}:
        out: dict[str, Any] = {"target": first}
        for w in args[1:]:
            if looks_like_window(w) and "window" not in out:
                out["window"] = w
            elif "service" not in out:
                out["service"] = w
            else:
                raise ToolError(f"I did not understand '{w}'.",
                                hint="Usage: forecast disk|memory [service] [window]")
        return out
    return {"target": " ".join(args)}  # a PromQL query: the whole text


CAPABILITIES = [
    Capability(
        name="service_metrics",
        tool="tools.metrics.tool:service_metrics",
        input="tools.metrics.models:MetricsQuery",
        summary="A service's golden signals from Prometheus, anomalies marked with the deploy before each",
        verbs=("metrics", "signals"),
        usage="SERVICE [window]",
        examples=("metrics payments", "metrics checkout 1d"),
        parse=parse_metrics_args,
        render="bot.render.metrics:METRICS",
        cli="metrics",
        cli_args=("service",),
        intents="metrics.yaml",
        module=__file__,
        status="Reading the service's metrics…",
    ),
    Capability(
        name="forecast_exhaustion",
        tool="tools.metrics.tool:forecast_exhaustion",
        input="tools.metrics.models:ForecastQuery",
        summary="When disk, memory or any level runs out at the current trend (80 % interval)",
        verbs=("forecast",),
        usage="disk|memory|QUERY [service] [window]",
        examples=("forecast disk", "forecast memory payments", "forecast disk 14d"),
        parse=parse_forecast_args,
        render="bot.render.metrics:FORECAST",
        cli="forecast",
        cli_args=("target",),
        intents="forecast.yaml",
        module=__file__,
        status="Forecasting…",
    ),
]
