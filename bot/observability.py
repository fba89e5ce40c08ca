"""The bot's own metrics for Prometheus (`/metrics`): requests, acks, tool calls and their
latency, LLM tokens and cost, queue depths, incidents open.

One `BotMetrics` owns its own CollectorRegistry (not the process-global one), so two apps in a
test, or a restart, never clash. Where each figure comes from:
- tool calls and latency: `tool_hook(previous)` is `ToolContext.on_call` (bot/runtime.py), so
  every call through the tool wrapper is counted, then audited;
- Slack requests, acks and ack latency: `instrument_bolt(app)` wraps the Bolt app's
  `dispatch`, which both the HTTP route and Socket Mode go through (its return is the ack);
- HTTP requests (webhooks, /slack/events, health): an ASGI middleware `mount_metrics` adds,
  labelled by route template (bounded), with the status class;
- LLM tokens and cost: the assistant reports each answer's usage to `of(ctx)`, the metrics
  whose hook its ToolContext carries;
- queue depths: `watch_workers(workers)` reads each worker's `depth()` at scrape time;
- incidents open: counted in the store at scrape time (`mount_metrics` with a runtime).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
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

    from tools.contract import ToolContext
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
        self.ack_latency = Histogram("triops_ack_latency_seconds", "Time from a Slack request to its ack",
                                     ["surface"], buckets=LATENCY_BUCKETS, registry=r)
        self.tool_calls = Counter("triops_tool_calls", "Tool calls, by tool and status", ["tool", "status"],
                                  registry=r)
        self.tool_latency = Histogram("triops_tool_latency_seconds", "Tool call latency", ["tool"],
                                      buckets=LATENCY_BUCKETS, registry=r)
        self.llm_tokens = Counter("triops_llm_tokens", "LLM tokens, by model and kind (prompt/completion)",
                                  ["model", "kind"], registry=r)
        self.llm_cost = Counter("triops_llm_cost_usd", "LLM cost in USD, by model", ["model"], registry=r)
        self.http_requests = Counter("triops_http_requests", "HTTP requests, by route and status class",
                                     ["route", "status"], registry=r)
        self.queue_depth = Gauge("triops_queue_depth", "Items waiting, by queue", ["queue"], registry=r)
        self.incidents_open = Gauge("triops_incidents_open", "Incidents open now", registry=r)
        self._queues: dict[str, Callable[[], int]] = {}
        self._incidents: Callable[[], int] | None = None
        self._lock = threading.Lock()

    # --- events
    def request(self, surface: str, kind: str = "message") -> None:
        self.requests.labels(surface, kind).inc()

    def ack(self, surface: str, seconds: float | None = None) -> None:
        self.acks.labels(surface).inc()
        if seconds is not None:
            self.ack_latency.labels(surface).observe(max(seconds, 0.0))

    def llm_usage(self, model: str, prompt_tokens: int, completion_tokens: int, cost_usd: float = 0.0) -> None:
        self.llm_tokens.labels(model, "prompt").inc(max(prompt_tokens, 0))
        self.llm_tokens.labels(model, "completion").inc(max(completion_tokens, 0))
        if cost_usd > 0:
            self.llm_cost.labels(model).inc(cost_usd)

    def observe_tool(self, result: ToolResult) -> None:
        self.tool_calls.labels(result.tool, result.status).inc()
        self.tool_latency.labels(result.tool).observe(max(result.ms, 0.0) / 1000.0)

    def tool_hook(self, previous: Callable[[ToolResult, str], None] | None = None) -> _ToolHook:
        """A ToolContext.on_call callback: count and time the call, then call `previous` (the
        audit). A metrics failure never hides the audit, and never fails the call."""
        return _ToolHook(self, previous)

    def watch_workers(self, workers: Iterable[Any]) -> None:
        """Queue depth of every worker that has a `depth()` (answers, notifier, triage…)."""
        for w in workers:
            depth = getattr(w, "depth", None)
            if callable(depth):
                self.watch_queue(str(getattr(w, "name", type(w).__name__)), depth)

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


class _ToolHook:
    """The on_call callable; it carries its BotMetrics so `of(ctx)` finds them."""

    def __init__(self, metrics: BotMetrics, previous: Callable[[ToolResult, str], None] | None) -> None:
        self.metrics, self.previous = metrics, previous

    def __call__(self, result: ToolResult, actor: str) -> None:
        try:
            self.metrics.observe_tool(result)
        except Exception:  # metrics are best effort; the audit below must still run
            log.exception("tool metrics failed")
        if self.previous is not None:
            self.previous(result, actor)


def of(ctx: ToolContext) -> BotMetrics:
    """The metrics a ToolContext reports to (its on_call hook's), else the process's."""
    hook = getattr(ctx, "on_call", None)
    return hook.metrics if isinstance(hook, _ToolHook) else default()


def llm_usage(ctx: ToolContext, model: str | None, prompt_tokens: int, completion_tokens: int,
              cost_usd: float | None) -> None:
    """One answer's LLM usage (called by the assistant after it answers; the cost is None for a
    model without a price); never raises."""
    try:
        of(ctx).llm_usage(model or "unknown", prompt_tokens, completion_tokens, cost_usd or 0.0)
    except Exception:  # the answer is out already; a metrics bug must not lose it
        log.exception("LLM usage metrics failed")


def _slack_kind(body: Any) -> str:
    if not isinstance(body, dict):
        return "other"
    if body.get("command"):
        return "command"
    kind = body.get("type")
    if kind == "event_callback":
        return "event"
    if kind in ("block_actions", "interactive_message", "view_submission", "view_closed", "shortcut",
                "message_action", "block_suggestion"):
        return "interaction"
    return "other"


def instrument_bolt(app: Any, metrics: BotMetrics) -> None:
    """Count every Slack request and its ack (a response Slack accepts), with the ack's
    latency, by wrapping this Bolt app's `dispatch` — what the HTTP route and Socket Mode call."""
    dispatch = app.dispatch

    def counted(req: Any) -> Any:
        t0 = time.perf_counter()
        resp = dispatch(req)
        try:
            metrics.request("slack", _slack_kind(getattr(req, "body", None)))
            if 200 <= int(getattr(resp, "status", 500)) < 300:
                metrics.ack("slack", time.perf_counter() - t0)
        except Exception:  # never lose an ack over a metric
            log.exception("slack metrics failed")
        return resp

    app.dispatch = counted


class _CountRequests:
    """ASGI middleware: requests by route template (bounded labels) and status class."""

    def __init__(self, app: Any, metrics: BotMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                status["code"] = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.http_requests.labels(path, f"{status['code'] // 100}xx").inc()


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
    rt = getattr(app.state, "runtime", None)
    if rt is not None and m._incidents is None:
        store = rt.store

        def count_open() -> int:
            from tools.alerts.incidents import count_open

            return count_open(store)

        m.watch_incidents(count_open)
    app.add_middleware(_CountRequests, metrics=m)

    def scrape() -> Any:
        return Response(content=m.render(), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(path, scrape, methods=["GET"], include_in_schema=False)
    return m
