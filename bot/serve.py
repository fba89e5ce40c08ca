"""`triops serve`: FastAPI (webhooks, /healthz, /slack/events) under uvicorn; Socket Mode too.

With SLACK_APP_TOKEN the Bolt app talks to Slack over Socket Mode (no public URL needed)
and HTTP serves only the webhooks; otherwise Slack posts to `/slack/events`.
"""

from __future__ import annotations

import logging

import uvicorn

from bot.router import Router
from bot.runtime import Runtime
from tools.settings import Settings

log = logging.getLogger("triops.serve")


def build_surfaces(settings: Settings) -> tuple[Router, object | None]:
    from bot.slack.app import build_app

    router = Router(Runtime.build(settings))
    bolt = None
    if (settings.slack_signing_secret and settings.slack_bot_token) or (settings.slack_app_token and settings.slack_bot_token):
        bolt = build_app(router)
    else:
        log.warning("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET): serving webhooks only")
    return router, bolt


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    from bot.web import create_app

    router, bolt = build_surfaces(settings)
    if bolt is not None and settings.slack_app_token:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        handler.connect()  # non-blocking: runs beside uvicorn
        log.info("Slack Socket Mode connected")
        api = create_app(router, None)
    else:
        api = create_app(router, bolt)
    uvicorn.run(api, host=host or settings.host, port=port or settings.port, log_level="info")
