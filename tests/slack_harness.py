"""A whole triops behind signed Slack requests: the real Bolt app, the real FastAPI app,
and the Slack Web API double on loopback. Other domains' Slack tests reuse it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient
from pydantic import SecretStr
from slack_bolt.authorization import AuthorizeResult

from bot.router import Router
from bot.runtime import Runtime
from bot.slack.app import AnswerPool, build_app
from bot.web import create_app
from tests.slack_double import SlackDouble, sign

SECRET = "test-signing-secret"


def authorize(**_: Any) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-test-token", bot_id="BBOT", bot_user_id="UBOT"
    )


@dataclass
class SlackHarness:
    double: SlackDouble
    runtime: Runtime
    router: Router
    http: TestClient
    answers: AnswerPool  # drained by stop(): no answer outlives the test's Slack double and store

    @classmethod
    def start(cls, runtime: Runtime, router: Router | None = None, extensions: list | None = None) -> SlackHarness:
        double = SlackDouble().start()
        runtime.settings.slack_api_url = double.base_url
        runtime.settings.slack_signing_secret = SecretStr(SECRET)
        runtime.settings.slack_bot_token = None
        router = router or Router(runtime)
        answers = AnswerPool(runtime.settings.answer_workers, runtime.settings.answer_queue)
        bolt = build_app(router, authorize=authorize, extensions=extensions, answers=answers)
        http = TestClient(create_app(router, bolt))
        return cls(double=double, runtime=runtime, router=router, http=http, answers=answers)

    def stop(self, grace: float = 30.0) -> None:
        """Like `triops serve`'s shutdown: answers still running finish (they may still post, or
        write to the store after the reply the test waited for) before Slack goes away."""
        self.answers.stop(time.monotonic() + grace)
        self.http.close()
        self.double.stop()

    def post(self, body: str, content_type: str, headers: dict[str, str] | None = None, *, secret: str = SECRET, timestamp: int | None = None):  # type: ignore[no-untyped-def]
        h = {"Content-Type": content_type, **sign(secret, body, timestamp), **(headers or {})}
        return self.http.post("/slack/events", content=body, headers=h)

    def command(self, text: str, *, user: str = "U1", channel: str = "C1", response: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        name = response or uuid.uuid4().hex[:8]
        form = {
            "token": "legacy",
            "team_id": "T1",
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "ops",
            "user_id": user,
            "user_name": "alice",
            "command": self.runtime.settings.slack_command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.double.response_url(name),
            "trigger_id": "1.2.3",
        }
        resp = self.post(urlencode(form), "application/x-www-form-urlencoded", **kw)
        return resp, name

    def response(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.double.of("response_url"):
                if call.path.endswith("/" + name):
                    return call.params
            time.sleep(0.02)
        raise AssertionError(f"no response_url post for {name}: {[c.method for c in self.double.calls]}")

    def event(self, event: dict[str, Any], *, event_id: str | None = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": event_id or "Ev" + uuid.uuid4().hex[:10],
                "event_time": int(time.time()),
                "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
            }
        )
        return self.post(body, "application/json", headers)

    def action(self, payload: dict[str, Any]):  # type: ignore[no-untyped-def]
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
