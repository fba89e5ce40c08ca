"""The HTTP surface (FastAPI): `/healthz`, `/slack/events`, and the webhook routers.

Its lifespan owns every background worker of the process (alert ticker, incident notifier,
auto-triage pool, warm-up, Socket Mode): started in order when serving starts, stopped in
reverse order on SIGTERM with one shared deadline (TRIOPS_SHUTDOWN_GRACE), so queued work
is finished or reported, not dropped with a daemon thread.

The event loop never does blocking work: Bolt's dispatch (signature check, middleware that
reads the store, waiting for `ack()`), the webhooks' parsing and writes and the health
check's query all run in worker threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol

import anyio.to_thread
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from bot.hooks import alerts, delivery, mlops
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
    api = FastAPI(
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
    for r in HOOK_ROUTERS:
        api.include_router(r)

    @api.get("/healthz")
    def healthz() -> dict:  # a plain def: FastAPI runs it in a worker thread
        with router.runtime.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "database": router.runtime.store.dialect, "slack": bolt_app is not None}

    if bolt_app is not None:
        bolt = bolt_app

        @api.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            # Bolt's own FastAPI adapter calls the blocking App.dispatch on the loop; here it
            # runs in a worker thread, so a slow ack or a store read never stalls the server.
            body = await request.body()
            resp = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
            return to_starlette_response(resp)

    else:

        @api.post("/slack/events")
        async def slack_not_configured() -> JSONResponse:
            return JSONResponse(
                {"error": "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"},
                status_code=503,
            )

    return api


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
