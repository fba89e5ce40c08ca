"""The HTTP surface (FastAPI): `/healthz`, `/slack/events`, and the webhook routers.

Its lifespan owns every background worker of the process (alert ticker, incident notifier,
auto-triage pool, warm-up, Socket Mode): started in order when serving starts, stopped in
reverse order on SIGTERM with one shared deadline (TRIOPS_SHUTDOWN_GRACE), so queued work
is finished or reported, not dropped with a daemon thread.

The event loop never does blocking work: Bolt's dispatch (signature check, middleware that
reads the store, waiting for `ack()`), the webhooks' parsing and writes and the health
check's query all run in worker threads.

The alert webhooks (`POST /hooks/alerts`, `/hooks/alertmanager`, ...) skip FastAPI's routing
and middleware stack through a direct ASGI lane (bot/hooks/lane.py) with the same handler,
body limit, request metrics and error answers: in an alert storm the per-request cost bounds
the ingest rate.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from bot.hooks import alerts, delivery, mlops
from bot.hooks.lane import HookLane
from bot.router import Router
from tools.errors import PayloadError, StoreUnavailable

log = logging.getLogger("triops.web")

HOOK_ROUTERS = [delivery.router, alerts.router, mlops.router]


class Worker(Protocol):
    """A background worker the lifespan owns. `start` returns at once (it spawns its
    thread); `stop` blocks until the work is done or `deadline` (time.monotonic()) passes."""

    name: str

    def start(self) -> None: ...

    def stop(self, deadline: float) -> None: ...


class TriopsAPI(FastAPI):
    """FastAPI, with the alert webhooks served by a direct lane (bot/hooks/lane.py) in front
    of the middleware stack and the router: in a storm the per-request cost bounds the rate."""

    hook_lane: Any = None  # the lane inside the same body limit and request metrics
    lane: HookLane | None = None
    lane_middleware: tuple[Any, ...] = ()  # the middlewares the lane's wrapper reproduces
    _lane_ok: bool | None = None  # kept once the stack is built: Starlette refuses middlewares after that

    def _lane_current(self) -> bool:
        if self._lane_ok is not None:
            return self._lane_ok
        ok = tuple(m.cls for m in self.user_middleware) == self.lane_middleware
        if self.middleware_stack is not None:
            self._lane_ok = ok
        return ok

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # A middleware added after the lane was built (CORS, auth, a request id...) is not in
        # its wrapper: then every request takes the routed path, slower but never around it.
        if self.lane is not None and self.lane.matches(scope) and self._lane_current():
            scope["app"] = self  # what Starlette sets: handlers read request.app.state
            await self.hook_lane(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def install_hook_lane(api: TriopsAPI, wrap: Callable[[Any], Any]) -> None:
    """Serve the alert webhook routes (bot/hooks/alerts.py) through the lane; `wrap` adds the
    middlewares every request goes through (body limit, request metrics)."""
    from tools.alerts.sources import ALERT_SOURCES

    routes: dict[tuple[str, str], tuple[str, Any]] = {}
    for route in alerts.router.routes:
        path = getattr(route, "path", "")
        name = path.removeprefix("/hooks/")
        if name in ALERT_SOURCES:
            for method in getattr(route, "methods", ()):  # others (PUT /hooks/alertmanager) stay routed
                routes[(method, path)] = (name, route)
    api.lane = HookLane(routes, api.exception_handlers)
    api.hook_lane = wrap(api.lane)
    api.lane_middleware = tuple(m.cls for m in api.user_middleware)


def create_app(router: Router, bolt_app: App | None = None, *, workers: Sequence[Worker] = ()) -> FastAPI:
    settings = router.runtime.settings

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.webhook_token is None:
            log.warning("TRIOPS_WEBHOOK_TOKEN is not set: /hooks/* accept requests from anyone who "
                        "can reach this port. Set it and send it as `Authorization: Bearer <token>` "
                        "or `X-Triops-Token`.")
        if settings.api_docs:
            log.warning("TRIOPS_API_DOCS is on: /docs, /redoc and /openapi.json describe every endpoint")
        started: list[Worker] = []
        try:
            for w in workers:
                await anyio.to_thread.run_sync(w.start)
                started.append(w)
                log.info("started %s", w.name)
            yield
        finally:
            deadline = time.monotonic() + settings.shutdown_grace
            for w in reversed(started):
                try:
                    await anyio.to_thread.run_sync(w.stop, deadline)
                except Exception:  # one worker failing to stop must not keep the others running
                    log.exception("%s did not stop cleanly", w.name)
                else:
                    log.info("stopped %s", w.name)

    docs = settings.api_docs
    api = TriopsAPI(
        title="triops",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    api.state.runtime = router.runtime
    api.state.router = router
    install_error_handlers(api)
    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    redact_access_log()
    for r in HOOK_ROUTERS:
        api.include_router(r)
    from bot.observability import _CountRequests, mount_metrics

    metrics = mount_metrics(api, router.runtime.metrics)  # /metrics: tool calls and latencies, queues (prometheus_client)
    install_hook_lane(api, lambda lane: _CountRequests(BodyLimit(lane, max_bytes=settings.max_body_bytes), metrics))

    @api.get("/healthz")
    def healthz(ready: bool = False) -> Response:  # a plain def: FastAPI runs it in a worker thread
        """Liveness by default (the process answers); `?ready=1` (or /readyz) is readiness:
        each dependency checked, 503 naming the one that is down."""
        if not ready:
            return JSONResponse({"ok": True, "live": True, "database": router.runtime.store.dialect,
                                 "slack": bolt_app is not None})
        return readiness()

    @api.get("/readyz")
    def readyz() -> Response:
        return readiness()

    def readiness() -> Response:
        checks: dict[str, str] = {}
        try:
            with router.runtime.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports the failure; it is the answer, not a bug
            log.warning("readiness: database down: %s", type(exc).__name__)
            checks["database"] = f"down: {type(exc).__name__}"
        checks["slack"] = "configured" if bolt_app is not None else "not configured"
        pipeline = router.runtime.ctx._resources.get("alert_pipeline")  # not built: nothing to report
        stalled = getattr(pipeline, "stalled", None)
        if stalled:  # degraded, not down: ingest still stores; the row is parked after a few tries
            checks["correlator"] = f"stalled at log position {stalled['position']}: {stalled['error']}"
        down = [k for k, v in checks.items() if v.startswith("down")]
        return JSONResponse({"ok": not down, "ready": not down, "down": down, "checks": checks,
                             "database": router.runtime.store.dialect},
                            status_code=503 if down else 200)

    if bolt_app is not None:
        bolt = bolt_app

        @api.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            # Bolt's own FastAPI adapter calls the blocking App.dispatch on the loop; here it
            # runs in a worker thread, so a slow ack or a store read never stalls the server.
            stamp = request.headers.get("x-slack-request-timestamp")
            if stamp is not None and not stamp.strip().isdigit():
                # Bolt would int() it before checking the signature: a 500 before auth
                log.warning("slack request rejected: non-numeric X-Slack-Request-Timestamp")
                return JSONResponse({"error": "invalid request"}, status_code=401)
            body = await request.body()
            try:  # Bolt parses the body (and reads fields of it) before checking the signature
                bolt_request = to_bolt_request(request, body)
            except (ValueError, TypeError, AttributeError, KeyError, IndexError):
                # not UTF-8, not the JSON its Content-Type says, or fields of the wrong shape
                # (e.g. "authorizations": "x"): garbage that was a 500 is a 400
                bolt_request = None
            if bolt_request is None or not slack_shaped(bolt_request.body):
                log.warning("slack request rejected: the body is not a form or a JSON object")
                return JSONResponse({"error": "invalid request body"}, status_code=400)
            resp = await run_in_threadpool(bolt.dispatch, bolt_request)
            return to_starlette_response(resp)

    else:

        @api.post("/slack/events")
        async def slack_not_configured() -> JSONResponse:
            return JSONResponse(
                {"error": "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"},
                status_code=503,
            )

    return api


def slack_shaped(body: Any) -> bool:
    """The fields Bolt's middleware reads have the types Slack sends (an object body; `event`
    an object; `authorizations` and `actions` lists of objects): otherwise Bolt raised inside
    dispatch and answered 500, even to a correctly signed request."""
    if not isinstance(body, dict):
        return False
    if "event" in body and not isinstance(body["event"], dict):
        return False
    for key in ("authorizations", "actions"):
        if key in body and not (isinstance(body[key], list) and all(isinstance(x, dict) for x in body[key])):
            return False
    return True


def install_error_handlers(api: FastAPI) -> None:
    """Errors that mean bad input or a missing dependency, wherever they are raised, become
    a 4xx with the reason or a 503, never a 500 (which would also drop the connection)."""

    @api.exception_handler(PayloadError)
    async def payload_error(request: Request, exc: PayloadError) -> JSONResponse:
        log.warning("%s rejected: %s", request.url.path, exc.message)
        return JSONResponse({"detail": {"error": exc.message}}, status_code=422)

    @api.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("%s: store unavailable: %s", request.url.path, exc.message)
        return JSONResponse({"detail": {"error": "store unavailable, retry later"}}, status_code=503,
                            headers={"Retry-After": "5"})


class BodyLimit:
    """ASGI middleware: a request body larger than `max_bytes` is a 413, decided from
    Content-Length when given and while streaming otherwise, before the app buffers it."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _plain(send, 400, "bad Content-Length")
                return
            if int(length) > self.max_bytes:
                await _plain(send, 413, f"request body larger than {self.max_bytes} bytes (TRIOPS_MAX_BODY_BYTES)")
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break  # a disconnect: let the app see it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _plain(send, 413, f"request body larger than {self.max_bytes} bytes (TRIOPS_MAX_BODY_BYTES)")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _plain(send: Any, status: int, error: str) -> None:
    body = json.dumps({"detail": {"error": error}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_SECRET_QUERY = re.compile(r"(?i)([?&](?:token|access_token|api_key|apikey|key|secret|signature|sig)=)[^&\s]*")


class _RedactQuery(logging.Filter):
    """Secrets a sender put in the URL never reach the access log (uvicorn logs the path
    with its query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_SECRET_QUERY.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1[redacted]", record.msg)
        return True


def redact_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())
