"""Scheduled model checks: two replicas of the worker share one store (SQLite and
PostgreSQL); each due model is checked once, its result posted once to the model channel and
updated in place on the next window, its charts uploaded in the message's thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from slack_sdk import WebClient

from bot.model_checks import ModelChecks
from bot.runtime import Runtime
from tests.mlops_fixtures import BACKENDS
from tests.slack_double import SlackDouble
from tests.stores import open_test_store
from tests.test_models_performance import _binary, _seed
from tests.test_models_surfaces import _UploadSink
from tools.mlops.schemas import ModelIn
from tools.settings import Settings
from tools.store import models as reg

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_test_store(request.param, tmp_path)


def test_two_replicas_check_each_model_once_and_update_one_message(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    clock = [NOW]
    settings = Settings(_env_file=None, home=tmp_path, TRIOPS_MODEL_CHANNEL="CMODELS", TRIOPS_MODEL_CHECK_INTERVAL="3600",
                        TRIOPS_MODEL_CHECK_INTERVALS="other=0")
    slack, sink = SlackDouble().start(), _UploadSink()
    slack.responses["files.getUploadURLExternal"] = {"ok": True, "upload_url": sink.url, "file_id": "F1"}
    slack.responses["files.completeUploadExternal"] = {"ok": True, "files": [{"id": "F1", "title": "chart"}]}
    slack.responses["chat.postMessage"] = {"ok": True, "channel": "CMODELS", "ts": "111.1"}
    try:
        rts = [Runtime.build(settings, store=backend, clock=lambda: clock[0]) for _ in range(2)]
        client = WebClient(token="xoxb-test", base_url=slack.base_url)
        a, b = (ModelChecks(rt, client, "CMODELS") for rt in rts)
        _seed(backend, np.random.default_rng(9), scale=0.3)
        with backend.engine.begin() as conn:  # a model the per-model setting switches off
            reg.save_window(conn, "other", "reference", _binary(np.random.default_rng(1), 500), NOW.timestamp())
            reg.save_window(conn, "other", "w1", _binary(np.random.default_rng(2), 500), NOW.timestamp())
            reg.upsert_models(conn, [ModelIn(name="other")], NOW.timestamp())
        first = a.tick() + b.tick()
        assert [r.model for r in first] == ["fraud"] and first[0].new and first[0].window == "2026-11-20"
        assert first[0].performance is not None and first[0].drift is not None and first[0].drift.report_id is not None
        (post,) = slack.of("chat.postMessage")
        assert post.params["channel"] == "CMODELS" and "fraud" in post.params["text"]
        assert "Performance" in str(post.params["blocks"]) and "Drift" in str(post.params["blocks"])
        uploads = slack.wait_for("files.completeUploadExternal", count=2)
        assert all(u.params.get("thread_ts") == "111.1" for u in uploads)
        assert a.tick() + b.tick() == []  # not due again within the hour

        clock[0] = NOW + timedelta(hours=2)  # due, but no new window: checked, nothing posted
        again = a.tick() + b.tick()
        assert len(again) == 1 and not again[0].new and len(slack.of("chat.postMessage")) == 1

        with backend.engine.begin() as conn:  # a new window arrives
            cur = reg.load_window(conn, "fraud", "2026-11-20")
            assert cur is not None
            reg.save_window(conn, "fraud", "2026-11-21", cur, clock[0].timestamp(), end=clock[0].timestamp())
        clock[0] = NOW + timedelta(hours=4)
        later = b.tick() + a.tick()
        assert [r.window for r in later] == ["2026-11-21"]
        (update,) = slack.of("chat.update")
        assert update.params["ts"] == "111.1" and "2026-11-21" in str(update.params["blocks"])
        assert len(slack.of("chat.postMessage")) == 1  # posted once, updated in place
    finally:
        sink.stop()
        slack.stop()
