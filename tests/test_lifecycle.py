"""The managed lifecycle of `triops serve`: workers started and drained by the lifespan, a
bounded auto-triage pool, and no blocking work on the event loop."""

from __future__ import annotations

import ast
import json
import logging
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from slack_sdk import WebClient
from sqlalchemy import event

from bot.agent.triage import TriageJob, TriagePool, triage_incident
from bot.router import Router
from bot.runtime import Runtime
from bot.slack.incidents import install_notifier
from bot.web import create_app
from tests.realservices import serving
from tests.slack_double import SlackDouble
from tools.alerts import incidents
from tools.scenario.topology import catalog
from tools.settings import Settings

CHANNEL = "C_INCIDENTS"
ROOT = Path(__file__).resolve().parents[1]




def _alert(name: str, service: str, at: str = "2026-11-20T10:00:00Z") -> dict:
    return {"name": name, "service": service, "starts_at": at}


# --- the bounded auto-triage pool -----------------------------------------------------------
def test_an_incident_storm_never_runs_more_triage_than_the_cap(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """50 new incidents, triage held: at most TRIOPS_TRIAGE_CONCURRENCY run, TRIOPS_TRIAGE_QUEUE
    wait, the rest are dropped with a WARNING naming them; released, the queued ones finish."""
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL, TRIOPS_AUTO_TRIAGE="true",
                                TRIOPS_TRIAGE_CONCURRENCY="2", TRIOPS_TRIAGE_QUEUE="10"), catalog=catalog())
    double = SlackDouble().start()
    client = WebClient(token="xoxb-test", base_url=double.base_url)
    gate, both_running, lock = threading.Event(), threading.Event(), threading.Lock()
    running, peak, triaged = 0, 0, list[str]()

    def slowed(job: TriageJob) -> None:
        """The real triage, held at the gate: what an LLM conversation of minutes looks like."""
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == 2:
                both_running.set()
        try:
            assert gate.wait(60)
            assert triage_incident(rt, client, **asdict(job))
            triaged.append(str(job.incident_id))
        finally:
            with lock:
                running -= 1

    pool = TriagePool(slowed, concurrency=rt.settings.triage_concurrency, queue_size=rt.settings.triage_queue)
    notifier = install_notifier(rt, client, on_posted=pool.submit_incident)
    assert notifier is not None
    http = TestClient(create_app(Router(rt)))
    pool.start()
    try:
        first = http.post("/hooks/alerts", json=[_alert(f"Storm{i}", f"svc-{i}") for i in range(2)]).json()["incidents"]
        assert notifier.run_pending() == 2
        assert both_running.wait(30)
        rest = http.post("/hooks/alerts", json=[_alert(f"Storm{i}", f"svc-{i}") for i in range(2, 50)]).json()["incidents"]
        assert len(set(first + rest)) == 50
        with caplog.at_level(logging.WARNING, logger="triops.agent.triage"):
            assert notifier.run_pending() == 48  # every card is posted; triage is what is bounded
        dropped = {j.incident_id for j in pool.dropped}
        assert len(dropped) == 38 and dropped <= set(rest)
        logged = {r.getMessage().split()[3] for r in caplog.records if "dropped" in r.getMessage()}
        assert logged == dropped  # each one named in a WARNING
        gate.set()
        assert pool.wait_idle(120)
    finally:
        gate.set()
        pool.stop(time.monotonic() + 30)
        http.close()
        double.stop()
    assert peak == 2 and pool.max_active == 2
    assert len(triaged) == 12 and set(triaged) == set(first + rest) - dropped
    threads = {c.params["thread_ts"] for c in double.of("chat.postMessage")
               if c.params.get("thread_ts") and "sources:" in c.params.get("text", "")}
    assert threads == {incidents.slack_message(rt.store, iid)[1] for iid in triaged}  # type: ignore[index]


def test_a_stopped_pool_drops_what_it_cannot_finish_by_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    pool = TriagePool(lambda job: gate.wait(30), concurrency=1, queue_size=5)
    pool.start()
    jobs = [TriageJob(channel="C", thread_ts=f"{i}.0", title="t", incident_id=f"inc-{i}") for i in range(3)]
    assert all(pool.submit(j) for j in jobs)
    with caplog.at_level(logging.WARNING, logger="triops.agent.triage"):
        pool.stop(time.monotonic() + 0.3)  # inc-0 is held: the deadline passes
        assert not pool.submit(jobs[0])  # stopped: nothing new is taken
    gate.set()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "inc-1, inc-2" in text and "1 auto-triage conversation(s) still running" in text


# --- the lifespan ----------------------------------------------------------------------------
class Recorder:
    def __init__(self, name: str, log: list[str], fail_stop: bool = False):
        self.name, self.log, self.fail_stop = name, log, fail_stop
        self.deadline: float | None = None

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    def stop(self, deadline: float) -> None:
        self.deadline = deadline
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError("stuck")


def test_the_lifespan_starts_workers_in_order_and_stops_them_in_reverse(tmp_path: Path) -> None:
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_SHUTDOWN_GRACE="7"))
    order: list[str] = []
    workers = [Recorder("pool", order), Recorder("notifier", order, fail_stop=True), Recorder("ticker", order)]
    with TestClient(create_app(Router(rt), workers=workers)) as http:
        assert order == ["start pool", "start notifier", "start ticker"]
        assert http.get("/healthz").status_code == 200
    # a worker failing to stop does not keep the ones after it running
    assert order[3:] == ["stop ticker", "stop notifier", "stop pool"]
    deadlines = {w.deadline for w in workers}
    assert len(deadlines) == 1 and 6 < deadlines.pop() - time.monotonic() <= 7  # type: ignore[operator]


def test_stopping_posts_the_queued_incident_updates(tmp_path: Path) -> None:
    """An update held back by the coalescing interval is posted at shutdown, not dropped."""
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL,
                                TRIOPS_INCIDENT_UPDATE_INTERVAL="3600"), catalog=catalog())
    double = SlackDouble().start()
    notifier = install_notifier(rt, WebClient(token="xoxb-test", base_url=double.base_url))
    assert notifier is not None
    try:
        with TestClient(create_app(Router(rt), workers=[notifier])) as http:
            (iid,) = http.post("/hooks/alerts", json=[_alert("PostgresDown", "payments")]).json()["incidents"]
            double.wait_for("chat.postMessage", 2)  # the card and its thread, sent by the running notifier
            deadline = time.monotonic() + 10
            while iid not in notifier.last_sent:  # the send is complete: the next change is coalesced
                assert time.monotonic() < deadline
                time.sleep(0.01)
            http.post("/hooks/alerts", json=[_alert("HighErrorRate", "payments", "2026-11-20T10:01:00Z")])
            assert iid in notifier.pending and double.of("chat.update") == []  # due in an hour
        (update,) = double.of("chat.update")  # posted before the lifespan returned
        assert "2 alerts on payments" in update.params["text"]
        assert update.params["ts"] == incidents.slack_message(rt.store, iid)[1]  # type: ignore[index]
        assert notifier.pending == {}
    finally:
        double.stop()


def test_what_cannot_be_posted_by_the_deadline_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL), catalog=catalog())
    double = SlackDouble().start()
    notifier = install_notifier(rt, WebClient(token="xoxb-test", base_url=double.base_url))
    assert notifier is not None
    try:
        http = TestClient(create_app(Router(rt)))
        (iid,) = http.post("/hooks/alerts", json=[_alert("PostgresDown", "payments")]).json()["incidents"]
        double.fail_next("chat.postMessage", status=429, retry_after=30)  # longer than the grace left
        with caplog.at_level(logging.WARNING, logger="triops.slack.incidents"):
            notifier.stop(time.monotonic() + 0.5)
        assert double.of("chat.postMessage:failed") and not double.of("chat.postMessage")
        assert any("not posted to Slack" in r.getMessage() and iid in r.getMessage() for r in caplog.records)
    finally:
        double.stop()


# --- nothing blocking on the event loop --------------------------------------------------------
def test_a_200k_row_model_window_does_not_hold_healthz(tmp_path: Path) -> None:
    """The window's write is held on a SQLite lock the test owns; /healthz answers meanwhile."""
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path))
    writing = threading.Event()

    def spot(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT") and "feature_windows" in statement:
            writing.set()

    event.listen(rt.store.engine, "before_cursor_execute", spot)
    rows = [{"latency": (i % 97) / 97, "amount": float(i % 13)} for i in range(200_000)]
    lock = sqlite3.connect(tmp_path / "triops.db", isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the database's write lock: the upload's INSERT waits for it
    result: dict[str, httpx.Response] = {}
    try:
        with serving(create_app(Router(rt))) as base:
            upload = threading.Thread(target=lambda: result.update(
                r=httpx.post(base + "/hooks/models/churn/windows/big", json=rows, timeout=120)))
            upload.start()
            assert writing.wait(60), "the upload never reached its write"
            health = httpx.get(base + "/healthz", timeout=5)  # inline, the loop would be stuck in the write
            assert health.status_code == 200 and not result
            lock.execute("ROLLBACK")
            upload.join(60)
    finally:
        lock.close()
    assert result["r"].status_code == 202, result["r"].text
    assert result["r"].json() == {"stored": 200_000, "source": "store:churn/big"}


def test_slack_events_are_dispatched_off_the_event_loop(tmp_path: Path) -> None:
    """Bolt's dispatch blocks (it waits for ack()); a held listener must not hold /healthz."""
    from pydantic import SecretStr
    from slack_bolt import Ack, App

    from bot.slack.app import build_app
    from tests.slack_double import sign
    from tests.slack_harness import SECRET, authorize

    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path))
    rt.settings.slack_signing_secret = SecretStr(SECRET)
    entered, release = threading.Event(), threading.Event()

    def held(app: App, router: Router) -> None:
        @app.shortcut("held")
        def on_held(ack: Ack) -> None:
            entered.set()
            release.wait(30)
            ack()

    bolt = build_app(Router(rt), authorize=authorize, extensions=[held])
    body = "payload=" + json.dumps({"type": "shortcut", "callback_id": "held", "team": {"id": "T1"},
                                   "user": {"id": "U1"}, "trigger_id": "1", "api_app_id": "A1", "token": "x"})
    with serving(create_app(Router(rt), bolt)) as base:
        post = threading.Thread(target=lambda: httpx.post(base + "/slack/events", content=body, timeout=30, headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)}))
        post.start()
        try:
            assert entered.wait(30)
            # inline, the loop would wait for this ack (Bolt's 3 s) before answering anything
            assert httpx.get(base + "/healthz", timeout=1.5).status_code == 200
        finally:
            release.set()
            post.join(30)


# --- the API's own pages and the webhook token ---------------------------------------------------
def test_docs_are_served_only_when_asked_and_an_open_webhook_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path))
    with caplog.at_level(logging.WARNING, logger="triops.web"), TestClient(create_app(Router(rt))) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert http.get(path).status_code == 404
    assert any(r.levelno == logging.WARNING and "TRIOPS_WEBHOOK_TOKEN is not set" in r.getMessage() for r in caplog.records)

    caplog.clear()
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path / "b", TRIOPS_WEBHOOK_TOKEN="t0ken", TRIOPS_API_DOCS="true"))
    with caplog.at_level(logging.WARNING, logger="triops.web"), TestClient(create_app(Router(rt))) as http:
        assert http.get("/docs").status_code == 200 and http.get("/redoc").status_code == 200
        assert "/hooks/alerts" in http.get("/openapi.json").json()["paths"]
    assert not any("TRIOPS_WEBHOOK_TOKEN" in r.getMessage() for r in caplog.records)


# --- surfaces use the domain, never the store ------------------------------------------------------
SURFACES = ["bot/slack", "bot/hooks", "bot/agent/slack.py", "bot/agent/triage.py", "bot/web.py", "bot/serve.py",
            "bot/alerts_runtime.py"]


def test_surfaces_never_import_the_store() -> None:
    files = [p for s in SURFACES for p in ((ROOT / s).rglob("*.py") if (ROOT / s).is_dir() else [ROOT / s])]
    assert len(files) >= 10
    offenders = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if isinstance(node, ast.ImportFrom) and node.module == "tools":
                names += [f"tools.{a.name}" for a in node.names]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n == "tools.store" or n.startswith("tools.store.")]
    assert offenders == []


def test_without_a_queue_only_idle_workers_take_triage() -> None:
    gate = threading.Event()
    pool = TriagePool(lambda job: gate.wait(30), concurrency=2, queue_size=0)
    pool.start()
    jobs = [TriageJob(channel="C", thread_ts=f"{i}.0", title="t", incident_id=f"inc-{i}") for i in range(3)]
    try:
        assert pool.submit(jobs[0]) and pool.submit(jobs[1])  # two idle workers
        assert not pool.submit(jobs[2])  # both busy and TRIOPS_TRIAGE_QUEUE=0: dropped
    finally:
        gate.set()
        pool.stop(time.monotonic() + 10)
    assert pool.done == 2 and [j.incident_id for j in pool.dropped] == ["inc-2"]
