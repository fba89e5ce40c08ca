"""`triops serve`: FastAPI (webhooks, /healthz, /slack/events) under uvicorn; Socket Mode too.

With SLACK_APP_TOKEN the Bolt app talks to Slack over Socket Mode (no public URL needed)
and HTTP serves only the webhooks; otherwise Slack posts to `/slack/events`.
"""

from __future__ import annotations

import logging
import threading

import uvicorn

from bot.router import Router
from bot.runtime import Runtime
from tools.runbooks.tool import runbook_lookup
from tools.runbooks.tool import warm as warm_runbooks
from tools.settings import Settings

log = logging.getLogger("triops.serve")


def build_surfaces(settings: Settings) -> tuple[Router, object | None]:
    from bot.agent.slack import agent_extension
    from bot.agent.surface import make_router
    from bot.agent.triage import triage_incident
    from bot.slack.app import build_app
    from bot.slack.incidents import install_notifier, register_actions

    router = make_router(Runtime.build(settings))
    # Load the embedding model and the runbook index now, not on the first /triops runbook.
    threading.Thread(target=warm_runbooks, args=(router.runtime.ctx,), name="kb-warm", daemon=True).start()
    bolt = None
    if (settings.slack_signing_secret and settings.slack_bot_token) or (settings.slack_app_token and settings.slack_bot_token):
        bolt = build_app(router, extensions=[register_actions, agent_extension])
        rt = router.runtime
        install_notifier(
            rt,
            bolt.client,
            runbook_lookup=runbook_lookup(rt.ctx),
            on_posted=lambda s, channel, ts: triage_incident(
                rt, bolt.client, channel=channel, thread_ts=ts, title=s.title, services=s.services, incident_id=s.id
            ),
        )
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
