"""The bot's own metrics for Prometheus (`/metrics`): requests, acks, tool calls and their
latency, LLM tokens and cost, queue depths, incidents open.

One `BotMetrics` owns its own CollectorRegistry (not the process-global one), so two apps in a
test, or a restart, never clash. Wiring, without editing the files other modules own:
- tool calls: chain `metrics.tool_hook(previous)` into `ToolContext.on_call` (bot/runtime.py:
  `on_call=observability.default().tool_hook(audit_tool_call(store))`);
- the endpoint: `mount_metrics(app)` after `bot.web.create_app(...)`;
- surfaces call `request()`, `ack()`, `llm_usage()`; queue depths and open incidents are read
  at scrape time from callables given to `watch_queue()` / `watch_incidents()`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tools.result import ToolResult

log = logging.getLogger(__name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class BotMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("triops_requests", "Requests handled, by surface and kind",
                                ["surface", "kind"], registry=r)
        self.acks = Counter("triops_acks", "Slack acknowledgements sent, by surface", ["surface"], registry=r)
        self.tool_calls = Counter("triops_tool_calls", "Tool calls, by tool and status", ["tool", "status"],
                                  registry=r)
        self.tool_latency = Histogram("triops_tool_latency_seconds", "Tool call latency", ["tool"],
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.llm_tokens = Counter("triops_llm_tokens", "LLM tokens, by model and kind (prompt/completion)",
                                  ["model", "kind"], registry=r)
        self.llm_cost = Counter("triops_llm_cost_usd", "LLM cost in USD, by model", ["model"], registry=r)
        self.queue_depth = Gauge("triops_queue_depth", "Items waiting, by queue", ["queue"], registry=r)
        self.incidents_open = Gauge("triops_incidents_open", "Incidents open now", registry=r)
        self._queues: dict[str, Callable[[], int]] = {}
        self._incidents: Callable[[], int] | None = None
        self._lock = threading.Lock()

    # --- events
    def request(self, surface: str, kind: str = "message") -> None:
        self.requests.labels(surface, kind).inc()

    def ack(self, surface: str) -> None:
        self.acks.labels(surface).inc()

    def llm_usage(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float = 0.0) -> None:
        self.llm_tokens.labels(model, "prompt").inc(max(prompt_tokens, 0))
        self.llm_tokens.labels(model, "completion").inc(max(completion_tokens, 0))
        if cost_usd > 0:
            self.llm_cost.labels(model).inc(cost_usd)

    def observe_tool(self, result: ToolResult) -> None:
        self.tool_calls.labels(result.tool, result.status).inc()
        self.tool_latency.labels(result.tool).observe(max(result.ms, 0.0) / 1000.0)

    def tool_hook(self, previous: Callable[[ToolResult, str], None] | None = None
                  ) -> Callable[[ToolResult, str], None]:
        """A ToolContext.on_call callback: count and time the call, then call `previous` (the
        audit). A metrics failure never hides the audit, and never fails the call."""
        def hook(result: ToolResult, actor: str) -> None:
            try:
                self.observe_tool(result)
            except Exception:  # metrics are best effort; the audit below must still run
                log.exception("tool metrics failed")
            if previous is not None:
                previous(result, actor)
        return hook

    # --- read at scrape time
    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        with self._lock:
            self._queues[name] = depth

    def watch_incidents(self, count_open: Callable[[], int]) -> None:
        self._incidents = count_open

    def render(self) -> bytes:
        with self._lock:
            queues = dict(self._queues)
        for name, fn in queues.items():
            self.queue_depth.labels(name).set(_safe(fn))
        if self._incidents is not None:
            self.incidents_open.set(_safe(self._incidents))
        return generate_latest(self.registry)


def _safe(fn: Callable[[], int]) -> float:
    try:
        return float(fn())
    except Exception:  # a broken gauge source shows as NaN, it does not break the scrape
        log.exception("metrics gauge source failed")
        return float("nan")


_DEFAULT: BotMetrics | None = None


def default() -> BotMetrics:
    """The process's metrics (one per process; tests may build their own BotMetrics)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = BotMetrics()
    return _DEFAULT


def mount_metrics(app: FastAPI, metrics: BotMetrics | None = None, path: str = "/metrics") -> BotMetrics:
    """Serve the metrics at `path` of a FastAPI app (text exposition format 0.0.4)."""
    from fastapi import Response

    m = metrics or default()

    def scrape() -> Any:
        return Response(content=m.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(path, scrape, methods=["GET"], include_in_schema=False)
    return m
