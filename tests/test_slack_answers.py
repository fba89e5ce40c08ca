"""DMs and thread follow-ups are answered on the answer pool, like commands and mentions.

With a slow LLM (the double sleeps 4 s per call) and only 4 ack threads, 6 DMs and 2 replies
in a thread the bot talks in are in flight; 20 slash commands sent meanwhile over real HTTP
are each acknowledged within Slack's 3 s, and every DM asker gets the answer in the end.
Before, a DM's answer ran on Bolt's listener (ack) threads: 4 slow DMs held all of them.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from bot.agent import eval_world
from bot.agent.slack import agent_extension
from bot.agent.surface import make_router
from bot.router import Asker
from bot.runtime import Runtime
from bot.slack.app import AnswerPool, build_app
from bot.web import create_app
from tests.agent.openai_double import OpenAIDouble, completion
from tests.realservices import serving
from tests.slack_double import SlackDouble, sign
from tests.slack_harness import SECRET, authorize
from tools import conversations as conv_store
from tools.settings import Settings
from tools.store import Store


def _event(event: dict) -> str:
    return json.dumps({
        "token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10]}", "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}], "event": event})


def test_slow_dm_and_thread_answers_never_delay_acks(tmp_path):  # type: ignore[no-untyped-def]
    db = tmp_path / "world.db"
    seed = Store.open(f"sqlite:///{db}")
    eval_world.seed(seed)
    thread = Asker(user="U7", surface="slack", channel="C1", thread_ts="500.1")
    conv_store.append_turn(seed, thread.conversation_key, conv_store.Turn(question="deploys?", answer="12 this week"),
                           tokens=0, max_history_tokens=2000)
    seed.close()
    slack = SlackDouble().start()
    with OpenAIDouble() as llm:
        for _ in range(60):
            llm.push(completion(content="Checkout looks fine."), delay=4.0)
        settings = Settings(TRIOPS_HOME=str(tmp_path), OPENAI_BASE_URL=llm.base_url,
                            OPENAI_API_KEY="sk-loopback-test-000000000", TRIOPS_ACK_WORKERS="4",
                            TRIOPS_ANSWER_WORKERS="8", TRIOPS_ANSWER_QUEUE="40")
        settings.slack_api_url = slack.base_url
        settings.slack_signing_secret = SecretStr(SECRET)
        rt = Runtime.build(settings, store=Store.open(f"sqlite:///{db}"), catalog=eval_world.catalog(),
                           clock=lambda: eval_world.NOW)
        router = make_router(rt)
        answers = AnswerPool(settings.answer_workers, settings.answer_queue)
        bolt = build_app(router, authorize=authorize, extensions=[agent_extension], answers=answers)
        with serving(create_app(router, bolt)) as base, httpx.Client(base_url=base, timeout=30) as http:
            def post(body: str, content_type: str) -> float:
                """Seconds to the ack (Bolt answers 404 when no listener acked in time: inf)."""
                started = time.monotonic()
                r = http.post("/slack/events", content=body, headers={"Content-Type": content_type, **sign(SECRET, body)})
                return time.monotonic() - started if r.status_code == 200 else float("inf")

            def dm(i: int) -> float:
                return post(_event({"type": "message", "channel_type": "im", "user": f"U{i}", "channel": f"D{i}",
                                    "ts": f"200{i}.1", "text": f"why is checkout slow today, take {i}?"}),
                            "application/json")

            def follow_up(i: int) -> float:
                return post(_event({"type": "message", "channel_type": "channel", "user": "U7", "channel": "C1",
                                    "ts": f"600{i}.1", "thread_ts": "500.1", "text": f"and why is it slow, {i}?"}),
                            "application/json")

            def command(i: int) -> float:
                return post(urlencode({
                    "token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": f"U{i}",
                    "command": settings.slack_command, "text": f"why is checkout slow, asks {i}?", "api_app_id": "A1",
                    "response_url": slack.response_url(f"cmd{i}"), "trigger_id": "1.2.3"}),
                    "application/x-www-form-urlencoded")

            with ThreadPoolExecutor(max_workers=28) as pool:
                slow = [pool.submit(dm, i) for i in range(6)] + [pool.submit(follow_up, i) for i in range(2)]
                deadline = time.monotonic() + 15
                while len(llm.requests) < 8:  # all eight answers are waiting on the LLM now
                    assert time.monotonic() < deadline, f"only {len(llm.requests)} of 8 answers reached the LLM"
                    time.sleep(0.05)
                acks = list(pool.map(command, range(20)))
                assert all(s.result() < 3.0 for s in slow), [s.result() for s in slow]
            assert max(acks) < 3.0, f"slash-command acks took up to {max(acks):.1f} s: {sorted(acks)}"
            deadline = time.monotonic() + 40
            while True:  # each DM's status message is replaced by the answer (the model's claim
                # "looks fine" rests on no tool output, so the planner answers and says why)
                answered = {c.params.get("channel") for c in slack.of("chat.update")
                            if "computed by" in json.dumps(c.params)}
                if all(f"D{i}" in answered for i in range(6)):
                    break
                assert time.monotonic() < deadline, f"no answer in {sorted({f'D{i}' for i in range(6)} - answered)}"
                time.sleep(0.1)
            answers.stop(time.monotonic() + 10)
    slack.stop()
