"""The Slack harness stops like `triops serve`: an answer still running when a test ends
finishes against that test's Slack double and store, instead of failing later against a
double that is gone (it used to log "could not tell the user about ref …" after the test)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from bot.reply import Reply
from bot.router import Router
from bot.runtime import Runtime
from tests.slack_harness import SlackHarness
from tools.settings import Settings


def test_stop_lets_a_running_answer_finish_before_the_double_goes(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow_free_text(rt: Runtime, text: str, asker: object) -> Reply:
        started.set()
        finished.wait(0.5)  # the answer is still being worked out when the test ends
        finished.set()
        return Reply(text="a considered answer")

    rt = Runtime.build(Settings(_env_file=None, TRIOPS_HOME=str(tmp_path)))
    h = SlackHarness.start(rt, router=Router(rt, free_text=slow_free_text))
    with caplog.at_level(logging.WARNING):
        resp, name = h.command("why is checkout slow today")  # acked at once, answered on a pool thread
        assert resp.status_code == 200
        assert started.wait(30)
        h.stop()  # the test is over: its double stops (and a store fixture would be dropped next)
        assert finished.is_set()
    (answer,) = h.double.of("response_url")
    assert answer.path.endswith("/" + name) and "a considered answer" in answer.params["text"]  # it arrived
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
