"""The HTTP surface (FastAPI): `/healthz`, `/slack/events`, and the webhook routers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler
from sqlalchemy import text

from bot.hooks import delivery
from bot.router import Router

HOOK_ROUTERS = [delivery.router]


def create_app(router: Router, bolt_app: App | None = None) -> FastAPI:
    api = FastAPI(title="triops", version="0.1.0")
    api.state.runtime = router.runtime
    api.state.router = router
    for r in HOOK_ROUTERS:
        api.include_router(r)

    @api.get("/healthz")
    def healthz() -> dict:
        with router.runtime.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "database": router.runtime.store.dialect, "slack": bolt_app is not None}

    if bolt_app is not None:
        handler = SlackRequestHandler(bolt_app)

        @api.post("/slack/events")
        async def slack_events(request: Request):  # type: ignore[no-untyped-def]
            return await handler.handle(request)

    else:

        @api.post("/slack/events")
        async def slack_not_configured() -> JSONResponse:
            return JSONResponse(
                {"error": "Slack is not configured: set SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN"},
                status_code=503,
            )

    return api
