"""triops served over real HTTP with Bolt, the Slack double and an LLM double that takes 4 s
per answer: the set-up of the tests that check acks never wait behind answers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from bot.agent import eval_world
from bot.agent.slack import agent_extension
from bot.agent.surface import make_router
from bot.runtime import Runtime
from bot.slack.app import AnswerPool, build_app
from bot.web import create_app
from tests.agent.openai_double import OpenAIDouble, completion
from tests.realservices import serving
from tests.slack_double import SlackDouble, sign
from tests.slack_harness import SECRET, authorize
from tools.settings import Settings
from tools.store import Store


def event(body: dict) -> str:
    """A signed-able Events API envelope around `body`."""
    return json.dumps({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10]}", "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}], "event": body})


@dataclass
class SlowBot:
    http: httpx.Client
    slack: SlackDouble
    llm: OpenAIDouble
    answers: AnswerPool
    settings: Settings

    def post(self, body: str, content_type: str) -> float:
        """Seconds to the ack (Bolt answers 404 when no listener acked in time: inf)."""
        started = time.monotonic()
        r = self.http.post("/slack/events", content=body, headers={"Content-Type": content_type, **sign(SECRET, body)})
        return time.monotonic() - started if r.status_code == 200 else float("inf")

    def command(self, i: int) -> float:
        """A free-text slash command (it needs the LLM too) from user U{i}; its reply goes to cmd{i}."""
        return self.post(urlencode({
            "token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": f"U{i}",
            "command": self.settings.slack_command, "text": f"why is checkout slow, asks {i}?", "api_app_id": "A1",
            "response_url": self.slack.response_url(f"cmd{i}"), "trigger_id": "1.2.3"}),
            "application/x-www-form-urlencoded")

    def wait_llm_calls(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.llm.requests) < n:  # every answer in flight is waiting on the LLM now
            assert time.monotonic() < deadline, f"only {len(self.llm.requests)} of {n} answers reached the LLM"
            time.sleep(0.05)


@contextmanager
def slow_llm_bot(tmp_path: Path, db: Path, **env: str) -> Iterator[SlowBot]:
    """The eval world's store in `db`, `env` as extra settings; answers are stopped and the
    doubles closed afterwards."""
    slack = SlackDouble().start()
    try:
        with OpenAIDouble() as llm:
            for _ in range(60):
                llm.push(completion(content="Checkout looks fine."), delay=4.0)
            settings = Settings(TRIOPS_HOME=str(tmp_path), OPENAI_BASE_URL=llm.base_url,
                                OPENAI_API_KEY="sk-loopback-test-000000000", **env)
            settings.slack_api_url = slack.base_url
            settings.slack_signing_secret = SecretStr(SECRET)
            rt = Runtime.build(settings, store=Store.open(f"sqlite:///{db}"), catalog=eval_world.catalog(),
                               clock=lambda: eval_world.NOW)
            router = make_router(rt)
            answers = AnswerPool(settings.answer_workers, settings.answer_queue)
            bolt = build_app(router, authorize=authorize, extensions=[agent_extension], answers=answers)
            with serving(create_app(router, bolt)) as base, httpx.Client(base_url=base, timeout=30) as http:
                yield SlowBot(http, slack, llm, answers, settings)
                answers.stop(time.monotonic() + 10)  # queued answers are dropped at teardown, running ones end
    finally:
        slack.stop()

