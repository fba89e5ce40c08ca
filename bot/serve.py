"""`triops serve`: FastAPI (webhooks, /healthz, /slack/events) under uvicorn; Socket Mode too.

With SLACK_APP_TOKEN the Bolt app talks to Slack over Socket Mode (no public URL needed)
and HTTP serves only the webhooks; otherwise Slack posts to `/slack/events`.

Start-up builds only what answering needs (store, router, Bolt listeners) and starts
serving; the heavy resources (the planner's intent model, the embedding model and runbook
index) warm in the background. A request that needs one before it is ready waits for that
one (`ToolContext.resource` builds each once), so `/healthz` answers within moments of the
start and the first command is answered correctly, if a little later, while warming.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn

from bot.alerts_runtime import AlertTicker
from bot.reply import Reply
from bot.router import Asker, Router
from bot.runtime import Runtime
from tools.settings import Settings

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.web import Worker

log = logging.getLogger("triops.serve")


@dataclass
class Surfaces:
    """What `triops serve` runs: the router, the Bolt app (None without Slack settings), and
    the background workers in start order (the lifespan stops them in reverse)."""

    router: Router
    bolt: App | None
    workers: list[Worker] = field(default_factory=list)


def agent_free_text(rt: Runtime, text: str, asker: Asker) -> Reply:
    """The agent answers free text. Imported on the first question or by the warm-up, not at
    start: the planner's modules (scikit-learn, the LLM client) take seconds to import."""
    from bot.agent.surface import free_text_handler

    return free_text_handler()(rt, text, asker)


class Warmup:
    """Builds the heavy resources once, in the background, right after serving starts."""

    name = "warm-up"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="triops-warm-up", daemon=True).start()

    def _run(self) -> None:
        from bot.agent.surface import assistant_for
        from tools.runbooks.tool import warm as warm_runbooks

        try:
            started = time.perf_counter()
            try:
                assistant_for(self.rt)  # trains the planner's intent model
                log.info("planner ready in %.1f s", time.perf_counter() - started)
            except Exception:  # the first question will raise it again, to its asker
                log.exception("planner warm-up failed")
            started = time.perf_counter()
            warm_runbooks(self.rt.ctx)  # the embedding model and the runbook index
            log.info("runbook index ready in %.1f s", time.perf_counter() - started)
        finally:
            # the warm-up's objects live as long as the process: keep them out of the cyclic
            # collector's full passes, which otherwise rescan them (a ~0.3 s pause) as alerts pile up
            gc.freeze()
            self.done.set()

    def stop(self, deadline: float) -> None:
        """Nothing to hand over: an unfinished warm-up is abandoned with the process."""
        if not self.done.is_set():
            log.info("warm-up still running at shutdown: abandoned")


class ActionFollowups:
    """Every `every` seconds: expire undecided action suggestions and run the follow-up
    checks that are due, updating their cards (bot.agent.slack.run_followups)."""

    name = "action-followups"

    def __init__(self, rt: Runtime, client: object, every: float = 30.0):
        self.rt = rt
        self.client = client
        self.every = every
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from bot.agent.slack import run_followups

        def loop() -> None:
            while not self.stopped.wait(self.every):
                try:
                    run_followups(self.client, self.rt.ctx)  # type: ignore[arg-type]
                except Exception:  # one failed pass is logged; the next pass retries
                    log.exception("action follow-ups failed")

        self._thread = threading.Thread(target=loop, name="triops-action-followups", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        self.stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))


class SocketMode:
    """Slack over Socket Mode, connected once serving starts and closed first on shutdown."""

    name = "slack-socket-mode"

    def __init__(self, bolt: App, app_token: str):
        self.bolt = bolt
        self.app_token = app_token
        self.handler: object | None = None

    def start(self) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        handler = SocketModeHandler(self.bolt, self.app_token)
        handler.connect()  # non-blocking: runs beside uvicorn
        self.handler = handler
        log.info("Slack Socket Mode connected")

    def stop(self, deadline: float) -> None:
        if self.handler is not None:
            self.handler.close()  # type: ignore[attr-defined]


def build_surfaces(settings: Settings) -> Surfaces:
    rt = Runtime.build(settings)
    router = Router(rt, free_text=agent_free_text)
    workers: list[Worker] = []
    bolt = None
    if settings.slack_bot_token and (settings.slack_signing_secret or settings.slack_app_token):
        from bot.agent.slack import agent_extension
        from bot.agent.triage import triage_pool
        from bot.slack.app import AnswerPool, build_app
        from bot.slack.incident_actions import register_incident_actions
        from bot.slack.incidents import install_notifier, register_actions
        from bot.slack.mlops import register_model_actions
        from tools.runbooks.tool import runbook_lookup

        answers = AnswerPool(settings.answer_workers, settings.answer_queue)
        workers.append(answers)  # stopped after Socket Mode (reverse order): answers in flight finish
        bolt = build_app(router, extensions=[register_actions, register_incident_actions, agent_extension,
                                             register_model_actions],
                         answers=answers)
        pool = triage_pool(rt, bolt.client) if settings.auto_triage else None
        if pool is not None:
            workers.append(pool)
        notifier = install_notifier(
            rt, bolt.client, runbook_lookup=runbook_lookup(rt.ctx),
            on_posted=pool.submit_incident if pool is not None else None,
        )
        if notifier is not None:
            workers.append(notifier)
        workers.append(ActionFollowups(rt, bolt.client))
        if settings.model_channel and (settings.model_check_interval > 0 or settings.model_check_intervals_csv):
            from bot.model_checks import ModelChecks

            workers.append(ModelChecks(rt, bolt.client, settings.model_channel))
        if settings.metrics_scan_interval_s > 0 and settings.incident_channel:
            from bot.metrics_scan import MetricsScanner

            workers.append(MetricsScanner(rt, bolt.client, settings.incident_channel,
                                          every=settings.metrics_scan_interval_s,
                                          horizon=settings.metrics_scan_horizon))
        if settings.slack_app_token:
            workers.append(SocketMode(bolt, settings.slack_app_token.get_secret_value()))
    else:
        log.warning("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET): serving webhooks only")
    workers.append(AlertTicker(rt))
    workers.append(Warmup(rt))
    rt.metrics.watch_workers(workers)  # /metrics: queue depths
    return Surfaces(router=router, bolt=bolt, workers=workers)


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    from bot.web import create_app

    log.info("triops serve: starting")
    s = build_surfaces(settings)
    over_http = s.bolt if not settings.slack_app_token else None  # Socket Mode: no /slack/events
    api = create_app(s.router, over_http, workers=s.workers)
    uvicorn.run(api, host=host or settings.host, port=port or settings.port, log_level="info",
                timeout_graceful_shutdown=max(1, round(settings.shutdown_grace)))
