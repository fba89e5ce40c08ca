"""The Slack surface end to end: signed requests into the real Bolt app, posts to the double."""

from __future__ import annotations

import logging
import re
import threading
import time

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from tests.slack_harness import SlackHarness
from tools.scenario import build_scenario, load_scenario
from tools.settings import Settings


@pytest.fixture
def harness(tmp_path):
    sc = build_scenario(seed=7)
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=sc.catalog, clock=lambda: sc.now)
    load_scenario(rt.store, sc)
    h = SlackHarness.start(rt)
    yield h
    h.stop()


def _all_text(blocks: list[dict]) -> str:
    out = []
    for b in blocks:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"]["text"])
        out.extend(f["text"] for f in b.get("fields", []))
        out.extend(e.get("text", "") for e in b.get("elements", []) if isinstance(e, dict))
    return "\n".join(out)


def test_slash_dora_is_acked_before_the_work_and_answered_with_the_tool_numbers(harness):
    # Hold the work until the ack is back: the 200 must not wait for the answer.
    gate = threading.Event()
    handle = harness.router.handle

    def gated(text, asker=None):  # type: ignore[no-untyped-def]
        assert gate.wait(10), "the work started but the test never released it"
        return handle(text, asker)

    harness.router.handle = gated  # type: ignore[method-assign]
    resp, name = harness.command("dora checkout 30d")
    assert resp.status_code == 200
    assert harness.double.of("response_url") == []  # acked while the work is still held
    gate.set()
    posted = harness.response(name)
    report = harness.runtime.call("dora_metrics", {"scope": "checkout", "window": "30d"})
    text = _all_text(posted["blocks"])
    df = report.current.deployment_frequency
    assert posted["response_type"] == "in_channel"
    assert "DORA · service checkout · last 30d" in text
    assert f"{df.per_day:.2f}/day ({df.deployments} deploys" in text
    cfr = report.current.change_fail_rate
    assert f"{cfr.rate_percent:.1f} % ({cfr.failed} of {cfr.deployments})" in text


def test_unknown_service_gets_the_known_ones_only_for_the_asker(harness):
    _, name = harness.command("dora chekout 30d")
    posted = harness.response(name)
    assert posted["response_type"] == "ephemeral"
    assert "Did you mean 'checkout'" in posted["text"]
    assert "payments" in posted["text"]


def test_bad_window_gets_the_accepted_forms(harness):
    _, name = harness.command("dora checkout 30x")
    posted = harness.response(name)
    assert "12h, 7d, 2w, 30d" in posted["text"]
    assert "Traceback" not in posted["text"]


def test_help_lists_commands(harness):
    _, name = harness.command("help")
    posted = harness.response(name)
    assert "/triops dora [service|team] [window]" in posted["text"]


def test_wrong_or_stale_signature_is_rejected(harness):
    resp, _ = harness.command("dora", secret="not-the-secret")
    assert resp.status_code == 401
    resp, _ = harness.command("dora", timestamp=int(time.time()) - 600)
    assert resp.status_code == 401
    time.sleep(0.2)
    assert harness.double.of("response_url") == []


def test_mention_answers_in_thread_and_retries_are_answered_once(harness):
    event = {
        "type": "app_mention",
        "user": "U2",
        "text": "<@UBOT> dora payments 7d",
        "ts": "1700000000.000200",
        "channel": "C9",
        "event_ts": "1700000000.000200",
    }
    assert harness.event(event, event_id="EvSAME").status_code == 200
    assert harness.event(event, event_id="EvSAME", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}).status_code == 200
    harness.double.wait_for("chat.postMessage")
    _sentinel(harness)  # both deliveries were handled before the sentinel's answer
    posts = [c for c in harness.double.of("chat.postMessage") if c.params["channel"] == "C9"]
    assert len(posts) == 1
    p = posts[0].params
    assert p["channel"] == "C9" and p["thread_ts"] == "1700000000.000200"
    assert "DORA · service payments · last 7d" in p["text"]
    assert posts[0].headers.get("Authorization") == "Bearer xoxb-test-token"


def test_the_bots_own_messages_are_ignored(harness):
    harness.event({"type": "app_mention", "user": "UBOT", "bot_id": "BBOT", "text": "<@UBOT> dora", "ts": "1.2", "channel": "C9"})
    _sentinel(harness)
    assert [c.params["channel"] for c in harness.double.of("chat.postMessage")] == ["CSENTINEL"]


def _sentinel(harness) -> None:  # type: ignore[no-untyped-def]
    """A last, valid mention; once it is answered, the events sent before it were handled."""
    harness.event({"type": "app_mention", "user": "U7", "text": "<@UBOT> help", "ts": "9.9", "channel": "CSENTINEL"})
    deadline = time.monotonic() + 10
    while not any(c.params["channel"] == "CSENTINEL" for c in harness.double.of("chat.postMessage")):
        assert time.monotonic() < deadline, "the sentinel mention was never answered"
        time.sleep(0.02)
    time.sleep(0.2)  # listeners run on a pool: let any earlier one finish its post


def test_a_failing_command_gets_a_short_apology_with_the_logged_reference(harness, caplog):
    acked = threading.Event()

    def broken(text, asker=None):  # type: ignore[no-untyped-def]
        # fail once Slack has its 200 (Bolt answers 500 if a listener fails before its ack is out)
        assert acked.wait(10)
        raise RuntimeError("database exploded: secret internals")

    harness.router.handle = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="triops.slack"):
        resp, name = harness.command("dora checkout 30d")
        assert resp.status_code == 200
        acked.set()
        posted = harness.response(name)
    assert posted["response_type"] == "ephemeral"
    ref = re.search(r"\(ref ([0-9a-f]{8})\)", posted["text"]).group(1)
    assert "secret internals" not in posted["text"] and "Traceback" not in posted["text"]
    (record,) = [r for r in caplog.records if ref in r.getMessage()]
    assert "/triops" in record.getMessage()
    assert "RuntimeError: database exploded: secret internals" in caplog.text  # the trace is logged


def test_a_failing_mention_apologises_in_its_thread(harness, caplog):
    harness.double.fail_next("chat.postMessage", status=200, body={"ok": False, "error": "internal_error"})
    with caplog.at_level(logging.ERROR, logger="triops.slack"):
        harness.event({"type": "app_mention", "user": "U2", "text": "<@UBOT> dora payments 7d", "ts": "5.5", "channel": "C5"})
        (apology,) = harness.double.wait_for("chat.postMessage")
    assert apology.params["channel"] == "C5" and apology.params["thread_ts"] == "5.5"
    ref = re.search(r"\(ref ([0-9a-f]{8})\)", apology.params["text"]).group(1)
    assert any(ref in r.getMessage() for r in caplog.records) and "SlackApiError" in caplog.text


def test_other_bots_and_edits_are_filtered_once_for_every_listener(harness):
    mention = {"type": "app_mention", "text": "<@UBOT> dora", "ts": "3.1", "channel": "C3"}
    harness.event({**mention, "user": "U5", "bot_id": "BOTHER"})  # another bot
    harness.event({**mention, "user": "U5", "subtype": "message_changed"})  # an edit
    _sentinel(harness)
    assert [c.params["channel"] for c in harness.double.of("chat.postMessage")] == ["CSENTINEL"]
    from tools.store.slack_events import slack_events

    with harness.runtime.store.engine.connect() as conn:  # filtered before the de-duplication row
        assert conn.execute(select(func.count()).select_from(slack_events)).scalar_one() == 1


# --- degraded, not silent: the database down ------------------------------------------------
def _down_runtime(tmp_path, retry: float):  # type: ignore[no-untyped-def]
    """A SQLite store whose folder does not exist yet: every connection fails until it does."""
    from tools.store import Store

    url = f"sqlite:///{tmp_path / 'later' / 'triops.db'}"
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_STORE_RETRY_SECONDS=str(retry)),
                       store=Store.open(url, create=False))
    return rt, url


def test_with_the_store_down_a_command_is_told_it_is_retrying_then_that_it_gave_up(tmp_path, caplog):  # type: ignore[no-untyped-def]
    rt, _ = _down_runtime(tmp_path, retry=1.0)
    h = SlackHarness.start(rt)
    try:
        resp, name = h.command("dora auth 90d")
        assert resp.status_code == 200  # acked, not a 500
        first = h.response(name)
        assert "store is unavailable right now, retrying" in first["text"] and first["response_type"] == "ephemeral"
        deadline = time.monotonic() + 15
        while len([c for c in h.double.of("response_url") if c.path.endswith(name)]) < 2:
            assert time.monotonic() < deadline, "no final word after the retries"
            time.sleep(0.05)
        last = [c for c in h.double.of("response_url") if c.path.endswith(name)][-1].params
        assert re.search(r"still unavailable \(ref [0-9a-f]{8}\)", last["text"])
        assert "Traceback" not in caplog.text  # degraded, not a bug
    finally:
        h.stop()


def test_a_command_answers_once_the_store_is_back(tmp_path):  # type: ignore[no-untyped-def]
    from tools.store import Store

    rt, url = _down_runtime(tmp_path, retry=20.0)
    h = SlackHarness.start(rt)
    try:
        resp, name = h.command("help")
        assert resp.status_code == 200
        assert "retrying" in h.response(name)["text"]
        (tmp_path / "later").mkdir()
        Store.open(url).close()  # the database comes back
        deadline = time.monotonic() + 20
        while len([c for c in h.double.of("response_url") if c.path.endswith(name)]) < 2:
            assert time.monotonic() < deadline, "never answered after the store came back"
            time.sleep(0.05)
        answer = [c for c in h.double.of("response_url") if c.path.endswith(name)][-1].params
        assert "unavailable" not in answer["text"] and "went wrong" not in answer["text"]
    finally:
        h.stop()


# --- acks never wait behind answers ---------------------------------------------------------
def test_slow_llm_answers_never_delay_slash_command_acks(tmp_path):  # type: ignore[no-untyped-def]
    """6 @mentions in flight on a slow LLM (the double sleeps per call); 20 slash commands sent
    meanwhile over real HTTP (free-text questions: they need the LLM too) are each acknowledged
    within Slack's 3 s, and every asker hears back at once (the answer, or "busy")."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.agent import eval_world
    from tests.slow_llm_bot import event, slow_llm_bot
    from tools.store import Store

    db = tmp_path / "world.db"
    seed = Store.open(f"sqlite:///{db}")
    eval_world.seed(seed)
    seed.close()
    with slow_llm_bot(tmp_path, db, TRIOPS_ANSWER_WORKERS="8", TRIOPS_ANSWER_QUEUE="40") as bot:
        def mention(i: int) -> float:
            return bot.post(event({"type": "app_mention", "user": "U2", "channel": "C1", "ts": f"100{i}.1",
                                   "text": f"<@UBOT> why is checkout slow today, take {i}?"}), "application/json")

        with ThreadPoolExecutor(max_workers=26) as pool:
            mentions = [pool.submit(mention, i) for i in range(6)]
            bot.wait_llm_calls(6, timeout=10)  # all six answers are waiting on the LLM now
            acks = list(pool.map(bot.command, range(20)))
            assert all(m.result() < 3.0 for m in mentions)
        assert max(acks) < 3.0, f"slash-command acks took up to {max(acks):.1f} s: {sorted(acks)}"
        deadline = time.monotonic() + 30
        while True:
            heard = {c.path.rsplit("/", 1)[-1] for c in bot.slack.of("response_url")}
            if all(f"cmd{i}" in heard for i in range(20)):
                break
            assert time.monotonic() < deadline, f"no word for {sorted({f'cmd{i}' for i in range(20)} - heard)}"
            time.sleep(0.1)
