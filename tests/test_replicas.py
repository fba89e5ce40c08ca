"""Replicas agree: one correlator at a time (a lease in the store), every replica ingests into
the ordered log, incident cards go through the outbox. First in one process over both
stores, then with real `triops serve` processes on one PostgreSQL, the owner killed mid-storm.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from slack_sdk import WebClient
from sqlalchemy import create_engine, func, select, text

from bot.slack import incidents as incidents_mod
from bot.slack.incidents import METADATA_TYPE, THREAD_METADATA_TYPE, IncidentNotifier, thread_news
from tests.alerts_helpers import T0, mk
from tests.realservices import free_port
from tests.slack_double import SlackDouble
from tests.stores import open_test_store, postgres_url
from tools.alerts import outbox
from tools.alerts.metric_evidence import PENDING_NOTE, MetricEvidence
from tools.alerts.pipeline import LEASE, AlertPipeline
from tools.scenario.topology import catalog
from tools.store import Store, alert_log
from tools.store import alerts as s
from tools.store import lease as lease_store
from tools.store.outbox import incident_outbox, incident_thread

CHANNEL = "C_INCIDENTS"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_test_store(request.param, tmp_path)


def clock_at(seconds: float):  # type: ignore[no-untyped-def]
    return lambda: datetime.fromtimestamp(T0 + seconds, UTC)


def acquire(db: Store, holder: str, ttl: float) -> lease_store.Held | None:
    with db.engine.begin() as conn:
        return lease_store.acquire(conn, "job", holder, ttl)


# --- the lease --------------------------------------------------------------------------------
def test_a_lease_has_one_holder_until_it_expires_and_a_successor_fences_the_old_one(db: Store) -> None:
    a = acquire(db, "a", 0.5)
    assert a is not None and a.epoch == 1 and a.position == 0
    assert acquire(db, "b", 0.5) is None  # held
    renewed = acquire(db, "a", 0.5)
    assert renewed is not None and renewed.epoch == 1  # a renewal is not a new holder
    with db.engine.begin() as conn:
        assert lease_store.advance(conn, "job", "a", 1, 0, 7)
    time.sleep(0.7)  # a stops renewing (killed): the lease expires
    b = acquire(db, "b", 5)
    assert b is not None and b.epoch == 2 and b.position == 7  # b resumes where a stopped
    with db.engine.begin() as conn:  # a wakes up and writes: refused
        assert not lease_store.advance(conn, "job", "a", 1, 7, 9)
        assert not lease_store.advance(conn, "job", "b", 2, 6, 9)  # nor a stale position
        assert lease_store.advance(conn, "job", "b", 2, 7, 9)
    assert acquire(db, "a", 5) is None
    with db.engine.begin() as conn:
        lease_store.release(conn, "job", "b")  # a clean shutdown hands over at once
    again = acquire(db, "a", 5)
    assert again is not None and again.epoch == 3 and again.position == 9


def test_concurrent_acquires_elect_exactly_one(db: Store) -> None:
    won: list[str] = []
    barrier = threading.Barrier(6)

    def race(i: int) -> None:
        barrier.wait()
        for _ in range(20):
            try:
                if acquire(db, f"h{i}", 30) is not None:
                    won.append(f"h{i}")
                return
            except Exception:  # SQLite busy under six writers: try again, as the ticker would
                time.sleep(0.01)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1


# --- two pipelines on one store (two replicas in one process) -----------------------------------
def storm(n: int, offset: float = 0.0) -> list:
    """One outage: n alerts of payments within two minutes (one incident by the engine's rules)."""
    return [mk(f"Err{i % 7}", "payments", offset + i * 0.4, fp=f"storm-{i}") for i in range(n)]


def incident_rows(db: Store) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(s.alert_incidents.c.id, s.alert_incidents.c.alert_count))]


def members(db: Store, iid: str) -> set[str]:
    with db.engine.connect() as conn:
        return set(conn.execute(select(s.alert_incident_members.c.alert_id)
                                .where(s.alert_incident_members.c.incident_id == iid)).scalars())


def test_two_replicas_split_one_storm_into_one_incident_and_a_successor_takes_over(db: Store) -> None:
    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1", lease_ttl=0.6)
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2", lease_ttl=0.6)
    assert owner.is_owner and not other.is_owner
    alerts = storm(120)
    first = owner.ingest(alerts[:20])
    assert len(first.incidents) == 1  # the owner correlates its own batch at once
    (iid,) = first.incidents
    r = other.ingest(alerts[20:40])
    assert r.stored == 20 and r.incidents == [] and len(r.alert_ids) == 20  # stored and logged, not correlated here
    assert owner.drain() == [iid]  # ... the owner picks it up from the log
    assert owner.ingest(alerts[40:60]).incidents == [iid]
    # the owner dies (stops renewing); the other replica keeps ingesting meanwhile
    assert other.ingest(alerts[60:80]).incidents == []
    time.sleep(0.8)
    assert other.drain() == [iid]  # took over: rebuilt from the store, drained 60..80
    assert other.is_owner
    assert other.ingest(alerts[80:100]).incidents == [iid]
    # the old owner wakes up and ingests: its lease is gone, its batch is stored for the new owner
    late = owner.ingest(alerts[100:120])
    assert late.incidents == [] and not owner.is_owner
    other.drain()
    assert incident_rows(db) == [(iid, 120)]
    assert members(db, iid) == {a.id for a in alerts}
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.alerts).where(s.alerts.c.incident_id == iid)).scalar_one() == 120


def test_a_stale_owner_cannot_overwrite_its_successor(db: Store) -> None:
    """An owner paused past its expiry (GC, a stopped VM) resumes mid-batch: its save is
    refused by the fence, nothing it computed is written, and the batch is not lost."""
    a = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="a", lease_ttl=0.4)
    b = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="b", lease_ttl=5)
    alerts = storm(30)
    (iid,) = a.ingest(alerts[:10]).incidents
    time.sleep(1.1)  # a's lease expired, and b's next try (a follower tries about every second) is due
    b.drain()
    assert b.is_owner
    a._trusted_until = time.monotonic() + 60  # a still believes it holds the lease
    assert a.ingest(alerts[10:20]).incidents == []  # fenced: LeaseLost, the engine is dropped
    assert not a.is_owner
    assert b.drain() == [iid]
    assert incident_rows(db) == [(iid, 20)]


def test_a_single_process_correlates_inline_and_restarts_from_its_position(db: Store) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200))
    alerts = storm(10)
    (iid,) = p.ingest(alerts[:5]).incidents
    p.release()  # a clean shutdown: what it correlated leaves the log
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alert_log.alert_log)).scalar_one() == 0
    q = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200))  # the next start
    assert q.ingest(alerts[5:]).incidents == [iid]
    assert incident_rows(db) == [(iid, 10)]
    assert q.ingest([alerts[5]]).incidents == [iid]  # a repeat after the restart: the same alert, incident
    assert incident_rows(db) == [(iid, 10)]


def test_a_merge_and_a_split_decided_on_a_replica_that_does_not_correlate(db: Store) -> None:
    """Slack's buttons reach any replica: the decision goes to the correlator through the log."""
    from tools.alerts import decisions

    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    (a,) = owner.ingest([mk("Down", "payments", 0.0)]).incidents
    (b,) = owner.ingest([mk("Slow", "search", 1.0)]).incidents
    assert a != b and not other.is_owner
    stop = threading.Event()

    def correlator() -> None:  # what the owner's ticker does
        while not stop.wait(0.05):
            owner.drain()

    t = threading.Thread(target=correlator)
    t.start()
    try:
        rec = decisions.merge(other, a, b, "U1")
        assert (rec.into, rec.merged, rec.by) == (a, b, "U1")
        with db.engine.connect() as conn:
            found = s.get_incident(conn, b)  # the merged id leads to the incident that absorbed it
            assert found is not None and found[0].id == a and len(found[1]) == 2
        split = decisions.split_by_service(other, a, "search", "U2")
        assert split.merged == a and split.by == "U2"
        with db.engine.connect() as conn:
            found = s.get_incident(conn, split.into)
        assert found is not None and [m.service for m in found[1]] == ["search"]
    finally:
        stop.set()
        t.join()


def test_a_resolve_pressed_on_another_replica_holds_in_the_correlator(db: Store) -> None:
    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    (iid,) = owner.ingest([mk("Down", "payments", 0.0)]).incidents
    assert other.resolve_by_hand(iid, "U9")
    assert owner.ingest([mk("Down", "payments", 0.0)]).incidents == [iid]  # a repeat: the engine saves it...
    owner.tick()  # ... and its next tick learns of the resolve
    with db.engine.connect() as conn:
        found = s.get_incident(conn, iid)
    assert found is not None and found[0].status == "resolved" and found[0].resolved_by == "U9"
    assert not owner.engine.incidents[iid].is_open


# --- the outbox ---------------------------------------------------------------------------------
@pytest.fixture
def double() -> Iterator[SlackDouble]:
    d = SlackDouble().start()
    yield d
    d.stop()


def notifier_for(db: Store, double: SlackDouble, holder: str, claim_ttl: float = 30.0) -> IncidentNotifier:
    return IncidentNotifier(db, WebClient(token="xoxb-test", base_url=double.base_url), CHANNEL,
                            holder=holder, claim_ttl=claim_ttl, min_interval=0.0, orphan_after=0.0)


def outbox_pipeline(db: Store) -> AlertPipeline:
    """The correlator c1 at t=200, saving incident changes to the outbox for the posters."""
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="c1")
    p.outbox = True
    return p


def first_card(db: Store, double: SlackDouble, p: AlertPipeline, alerts: list) -> tuple[IncidentNotifier, str]:
    """`alerts` make one incident, whose card poster r1 posts: (r1, the incident)."""
    (iid,) = p.ingest(alerts).incidents
    r1 = notifier_for(db, double, "r1")
    r1.on_incidents([iid])
    assert r1.run_pending() == 1
    return r1, iid


def card_of(db: Store, iid: str) -> tuple[str, str]:
    """Where the incident's card is (channel, ts)."""
    with db.engine.connect() as conn:
        where = s.slack_message(conn, iid)
    assert where is not None
    return where


def cards(double: SlackDouble) -> list:
    return [c for c in double.of("chat.postMessage") if not c.params.get("thread_ts")]


def test_a_crash_between_commit_and_post_neither_loses_nor_repeats_the_card(db: Store, double: SlackDouble) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    p.outbox = True
    (iid,) = p.ingest(storm(5)).incidents  # committed with its outbox row; the process dies here
    survivor = notifier_for(db, double, "r2")
    assert survivor.poll() == 1  # the orphaned change is found...
    assert survivor.run_pending() == 1  # ... and posted, once
    assert survivor.poll() == 0 and survivor.run_pending() == 0
    (card,) = cards(double)
    assert card.params["metadata"]["event_payload"]["incident_id"] == iid
    with db.engine.connect() as conn:
        assert s.slack_message(conn, iid) == (CHANNEL, double.history[CHANNEL][0]["ts"])  # recorded
        row = conn.execute(select(incident_outbox).where(incident_outbox.c.incident_id == iid)).mappings().one()
    assert row["sent_version"] == row["version"] and row["claimed_by"] is None


@pytest.mark.parametrize("look_rate_limited", [False, True])
def test_a_crash_between_post_and_record_does_not_post_twice(db: Store, double: SlackDouble,
                                                              look_rate_limited: bool) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    p.outbox = True
    (iid,) = p.ingest(storm(5)).incidents
    # replica r1's poster claims the card, records its token, posts... and is killed before
    # it records the message's ts (the exact steps of IncidentNotifier._send_claimed)
    claim = outbox.claim(db, iid, "r1", ttl=30)
    assert claim is not None
    assert outbox.claim(db, iid, "r2", ttl=30) is None  # claimed: nobody else posts meanwhile
    assert outbox.begin_post(db, iid, "r1", "tok-1", ttl=30)
    client = WebClient(token="xoxb-test", base_url=double.base_url)
    first = client.chat_postMessage(channel=CHANNEL, text="card", metadata={
        "event_type": METADATA_TYPE, "event_payload": {"incident_id": iid, "token": "tok-1"}})
    now = [0.0]
    survivor = notifier_for(db, double, "r2")
    survivor.clock = lambda: now[0]
    assert survivor.poll() == 0  # r1's claim is still live
    expire_claim(db, iid)  # r1 is dead: its claim runs out
    if look_rate_limited:  # the look for r1's post is refused for now: looked again later, not guessed
        double.fail_next("conversations.history", status=429, retry_after=1)
        assert survivor.poll() == 1 and survivor.run_pending() == 0
        assert len(cards(double)) == 1
        assert outbox_row(db, iid)["claimed_by"] == "r2"  # Retry-After honoured: r2 keeps the claim...
        assert notifier_for(db, double, "r3").poll() == 0  # ... so no other replica looks meanwhile
        now[0] += 60
        assert survivor.run_pending() == 1
    else:
        assert survivor.poll() == 1 and survivor.run_pending() == 1
    assert len(cards(double)) == 1  # found, not re-posted
    (upd,) = double.of("chat.update")
    assert upd.params["ts"] == first["ts"]  # the card r1 posted is the one kept up to date
    with db.engine.connect() as conn:
        assert s.slack_message(conn, iid) == (CHANNEL, first["ts"])


def test_two_posters_never_post_one_card_twice(db: Store, double: SlackDouble) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    p.outbox = True
    ids = [p.ingest([mk("Down", svc, 0.0)]).incidents[0] for svc in ("payments", "inventory", "search", "auth")]
    posters = [notifier_for(db, double, f"p{i}") for i in range(3)]
    for n in posters:
        n.on_incidents(ids)
    threads = [threading.Thread(target=n.drain, args=(time.monotonic() + 20,)) for n in posters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted = sorted(c.params["metadata"]["event_payload"]["incident_id"] for c in cards(double))
    assert posted == sorted(ids)


# --- real processes -----------------------------------------------------------------------------
REPLICAS = 3
STORM = 300
BATCH = 5
LEASE_S = 2.0


def _pg_schema() -> tuple[str, str, object]:
    base = postgres_url()
    if not base:
        pytest.skip("TRIOPS_TEST_DATABASE_URL is not set")
    schema = f"r_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    return schema, url, admin


def _holder_pid(store: Store) -> int | None:
    with store.engine.connect() as conn:
        row = lease_store.read(conn, LEASE)
    return int(row["holder"].split(":")[1]) if row and row["expires_at"] > time.time() else None


@pytest.mark.postgres
def test_real_replicas_one_incident_one_post_every_alert_with_the_owner_killed_mid_storm(tmp_path: Path) -> None:
    schema, url, admin = _pg_schema()
    double = SlackDouble().start()
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    store = Store.open(url)  # creates the tables once, before the replicas race to
    try:
        for i in range(REPLICAS):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIOPS_", "SLACK_", "OPENAI_"))}
            env.update(TRIOPS_HOME=str(tmp_path / f"r{i}"), TRIOPS_PORT=str(port), TRIOPS_DATABASE_URL=url,
                       PYTHONPATH=str(Path(__file__).parent.parent), SLACK_API_URL=double.base_url,
                       SLACK_BOT_TOKEN="xoxb-replica", SLACK_SIGNING_SECRET="replica-secret",
                       TRIOPS_INCIDENT_CHANNEL=CHANNEL, TRIOPS_CORRELATOR_LEASE_S=str(LEASE_S),
                       TRIOPS_OUTBOX_CLAIM_S="4", TRIOPS_INCIDENT_UPDATE_INTERVAL="1")
            with (tmp_path / f"r{i}.log").open("wb") as out:
                procs.append(subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env,
                                              stdout=out, stderr=subprocess.STDOUT))
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        for proc, base in zip(procs, bases, strict=True):
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, "a replica did not start"
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
        assert _holder_pid(store) in {p.pid for p in procs}, "no replica holds the correlator lease"
        owner = -1  # the replica killed: whichever holds the lease at that moment

        now = datetime.now(UTC)
        alerts = [{"name": f"Err{j % 7}", "service": "payments", "fingerprint": f"storm-{j}", "severity": "critical",
                   "starts_at": (now - timedelta(seconds=150 - j * 0.4)).isoformat()} for j in range(STORM)]
        batches = [alerts[k:k + BATCH] for k in range(0, STORM, BATCH)]
        http = httpx.Client(timeout=10)
        acked: set[str] = set()
        lock = threading.Lock()
        killed = threading.Event()
        killed_epoch: list[int] = []
        owner_pid: int | None = None
        sent_after_kill = [0]

        def kill_owner() -> None:
            nonlocal owner, owner_pid
            while (owner_pid := _holder_pid(store)) is None:  # between two holders: a moment
                time.sleep(0.05)
            owner = next(i for i, p in enumerate(procs) if p.pid == owner_pid)
            with store.engine.connect() as conn:
                held = lease_store.read(conn, LEASE)
            procs[owner].send_signal(signal.SIGKILL)
            assert held is not None
            killed_epoch.append(int(held["epoch"]))
            killed.set()

        def send(k: int) -> None:
            body = json.dumps(batches[k])
            for attempt in range(REPLICAS * 4):  # a sender retries elsewhere what a dead replica did not ack
                target = (k + attempt) % REPLICAS
                if killed.is_set() and target == owner:
                    continue
                try:
                    r = http.post(bases[target] + "/hooks/alerts", content=body,
                                  headers={"Content-Type": "application/json"})
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                assert r.status_code == 202, r.text
                with lock:
                    acked.update(r.json()["alert_ids"])
                    if killed.is_set():
                        sent_after_kill[0] += 1
                    if len(acked) >= kill_at and not killed.is_set():
                        kill_owner()  # mid-storm, requests in flight, its next follow-up not yet due
                return
            raise AssertionError(f"batch {k} was never acknowledged")

        first_part = len(batches) // 3
        kill_at = (first_part + 5) * BATCH
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(send, range(first_part)))
            guard = time.monotonic() + 60  # a hang guard: the card and its first list are out before
            while not any(c.params.get("thread_ts") for c in double.of("chat.postMessage")):  # the kill,
                assert time.monotonic() < guard, "the card was never posted"  # so what follows are
                time.sleep(0.05)  # follow-ups ("N more alerts joined"), some owed by the replica killed
            list(pool.map(send, range(first_part, len(batches))))
        http.close()
        procs[owner].wait(10)
        assert procs[owner].returncode == -signal.SIGKILL
        assert sent_after_kill[0] > 0, "the storm ended before the kill"
        with store.engine.connect() as conn:  # the ids the replicas gave the storm's alerts
            stormed = set(conn.execute(select(s.alerts.c.id).where(
                s.alerts.c.fingerprint.in_([a["fingerprint"] for a in alerts]))).scalars())
        assert len(stormed) == STORM and acked == stormed  # every alert acknowledged, nothing else

        # another replica takes the lease over (a new epoch) and places every alert
        hang_guard = time.monotonic() + 60
        while True:
            with store.engine.connect() as conn:
                held = lease_store.read(conn, LEASE)
            if held is not None and int(held["epoch"]) > killed_epoch[0] \
                    and int(held["holder"].split(":")[1]) != owner_pid:
                break
            assert time.monotonic() < hang_guard, "no replica took the correlator lease over"
            time.sleep(0.1)
        pid = int(held["holder"].split(":")[1])
        assert pid in {p.pid for i, p in enumerate(procs) if i != owner}
        deadline = time.monotonic() + 120  # a hang guard: a card claimed by the killed replica
        while True:  # waits out its claim (longer than a Slack call, see IncidentNotifier)
            with store.engine.connect() as conn:
                incs = list(conn.execute(select(s.alert_incidents.c.id, s.alert_incidents.c.alert_count,
                                                s.alert_incidents.c.slack_ts)))
                placed = conn.execute(select(func.count()).select_from(s.alerts)
                                      .where(s.alerts.c.incident_id.is_not(None))).scalar_one()
                unsent = conn.execute(select(func.count()).select_from(incident_outbox)
                                      .where(incident_outbox.c.version > incident_outbox.c.sent_version)).scalar_one()
                unsent += conn.execute(select(func.count()).select_from(incident_thread)
                                       .where(incident_thread.c.ts.is_(None))).scalar_one()
            if placed == STORM and not unsent and all(r[2] for r in incs):
                break
            assert time.monotonic() < deadline, f"not settled: {incs}, {placed} placed, {unsent} unsent"
            time.sleep(0.2)
        assert len(incs) == 1, f"the storm was split: {incs}"
        (iid, count, ts) = incs[0]
        assert count == STORM
        with store.engine.connect() as conn:
            in_it = set(conn.execute(select(s.alerts.c.id).where(s.alerts.c.incident_id == iid)).scalars())
        assert in_it == acked  # every acknowledged alert is in the one incident
        posts = [c for c in cards(double) if c.params.get("channel") == CHANNEL]
        assert len(posts) == 1, [p.params.get("text") for p in posts]  # ONE post (updates allowed)
        assert posts[0].params["metadata"]["event_payload"]["incident_id"] == iid
        assert all(c.params["ts"] == ts for c in double.of("chat.update"))  # every update edits that card
        # its thread: every alert announced exactly once, though the replica posting it died
        texts = thread_texts(double, ts)
        assert texts and texts[0].startswith("Alerts in this incident:")
        assert any(re.match(r"\d+ more alerts? joined:", t) for t in texts), texts  # follow-ups were owed
        assert announced(texts) == STORM, texts
    except BaseException:
        for i in range(REPLICAS):
            log = tmp_path / f"r{i}.log"
            if log.exists():
                sys.stderr.write(f"--- replica {i} ---\n{log.read_text(errors='replace')[-4000:]}\n")
        raise
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        store.close()
        double.stop()
        with admin.connect() as conn:  # type: ignore[attr-defined]
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()  # type: ignore[attr-defined]


# --- review fixes ---------------------------------------------------------------------------------
def store_incident_ids(db: Store) -> set[str]:
    with db.engine.connect() as conn:
        return {r[0] for r in conn.execute(select(s.alert_incidents.c.id).where(s.alert_incidents.c.status == "open"))}


def test_a_decision_whose_save_fails_leaves_the_engine_in_step_with_the_store(
        db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    (a,) = p.ingest([mk("Down", "payments", 0.0)]).incidents
    (b,) = p.ingest([mk("Slow", "search", 1.0)]).incidents
    real = s.save_incidents

    def broken(conn, summaries):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE alert_incidents", {}, Exception("disk I/O error"))

    monkeypatch.setattr(s, "save_incidents", broken)
    with pytest.raises(OperationalError):
        p.decide({"kind": "merge", "into": a, "other": b, "by": "U1", "reason": "r"})
    monkeypatch.setattr(s, "save_incidents", real)
    p.drain()  # the next round: the engine agrees with the store (the merge was never saved)
    assert {i for i, inc in p.engine.incidents.items() if inc.is_open} == store_incident_ids(db) == {a, b}


def test_a_chunk_that_always_fails_to_save_is_narrowed_to_its_row_parked_and_passed(
        db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A deterministic failure saving one alert (here the store refusing its placement) must
    not stop correlation for every replica: the row is parked with a reference, later alerts
    are placed, and the stall is visible while it lasts."""
    from sqlalchemy.exc import DataError

    from tools.store import parked as parked_store

    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    alerts = storm(12)
    poison = alerts[5]
    real = s.assign

    def refuse(conn, placements):  # type: ignore[no-untyped-def]
        if any(aid == poison.id for aid, *_ in placements):
            raise DataError("INSERT INTO alert_incident_members", {}, Exception("value too long"))
        return real(conn, placements)

    monkeypatch.setattr(s, "assign", refuse)
    assert other.ingest(alerts[:10]).incidents == []  # logged by a replica that does not correlate
    saw_stall = False
    deadline = time.monotonic() + 60  # a hang guard only
    while time.monotonic() < deadline:
        try:
            owner.drain()
        except DataError:
            saw_stall = saw_stall or owner.stalled is not None
            continue
        if owner.stalled is None:
            break
    assert saw_stall and owner.stalled is None
    with db.engine.connect() as conn:
        parked = parked_store.list_parked(conn)
    assert [p["alert_id"] for p in parked] == [poison.id] and "failed correlating" in parked[0]["reason"]
    ((iid, n),) = incident_rows(db)
    assert n == 9 and members(db, iid) == {a.id for a in alerts[:10]} - {poison.id}
    assert owner.ingest(alerts[10:]).incidents == [iid]  # later alerts are placed as usual
    assert members(db, iid) == {a.id for a in alerts} - {poison.id}


def test_a_decision_the_correlator_refuses_reaches_the_deciding_replica_with_its_reason(db: Store) -> None:
    from tools.alerts import decisions
    from tools.errors import ToolError

    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    (a,) = owner.ingest([mk("Down", "payments", 0.0)]).incidents
    stop = threading.Event()

    def correlator() -> None:
        while not stop.wait(0.05):
            owner.drain()

    t = threading.Thread(target=correlator)
    t.start()
    try:
        with pytest.raises(ToolError) as refused:
            decisions.merge(other, a, "inc-gone", "U1")
        assert "unknown incident: inc-gone" in str(refused.value)  # the correlator's reason, not a timeout
        with pytest.raises(ToolError) as same:
            decisions.merge(other, a, a, "U1")
        assert "same incident" in str(same.value)
    finally:
        stop.set()
        t.join()
    assert [i for i, _n in incident_rows(db)] == [a]


def test_a_source_ack_is_saved_with_the_log_position_so_a_failed_save_does_not_lose_it(
        db: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import DataError

    from tools.alerts.parsers import ACKED_BY

    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    acked = mk("Down", "payments", 0.0, source="pagerduty")
    acked = acked.model_copy(update={"annotations": {**acked.annotations, ACKED_BY: "alice"}})
    other.ingest([acked])
    real = s.record_action
    calls = {"n": 0}

    def flaky(conn, *args, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise DataError("INSERT INTO alert_incident_actions", {}, Exception("refused once"))
        return real(conn, *args, **kw)

    monkeypatch.setattr(s, "record_action", flaky)
    with pytest.raises(DataError):
        owner.drain()
    owner.drain()  # the next round redoes the chunk, ack included
    ((iid, _n),) = incident_rows(db)
    with db.engine.connect() as conn:
        found = s.get_incident(conn, iid)
    assert found is not None and found[0].acked_by == "alice"


def test_a_claim_that_expired_cannot_start_a_post_and_outlasts_a_slack_call(db: Store, double: SlackDouble) -> None:
    """A slow Slack call must not let a second poster post the card: the claim lasts longer
    than the client's timeout, and a poster whose claim expired does not start a post."""
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    p.outbox = True
    (iid,) = p.ingest(storm(3)).incidents
    assert outbox.claim(db, iid, "r1", ttl=30) is not None
    expire_claim(db, iid)
    assert not outbox.begin_post(db, iid, "r1", "tok-1", ttl=30)  # expired: another may hold it now
    n = notifier_for(db, double, "r2", claim_ttl=30.0)
    assert n.client.timeout == 30 and n.claim_ttl > n.client.timeout


def test_a_card_claimed_before_its_outbox_row_existed_is_found_if_its_poster_dies(db: Store) -> None:
    assert outbox.claim(db, "inc-x", "r1", ttl=30) is not None  # r1 dies without completing
    assert outbox.pending(db, "r2") == []  # (claimed)
    expire_claim(db, "inc-x")
    assert outbox.pending(db, "r2") == ["inc-x"]


def test_a_rate_limited_card_stays_claimed_until_its_retry_after(db: Store, double: SlackDouble) -> None:
    """Slack said 429 Retry-After: the replica that was told keeps the claim meanwhile, so
    another replica does not send it earlier (and deepen the rate limit)."""
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    p.outbox = True
    (iid,) = p.ingest(storm(3)).incidents
    first, second = notifier_for(db, double, "n1"), notifier_for(db, double, "n2")
    double.fail_next("chat.postMessage", status=429, retry_after=2)
    first.on_incidents([iid])
    assert first.run_pending() == 0
    assert second.poll() == 0 and second.run_pending() == 0  # held by n1 during its back-off
    with db.engine.connect() as conn:
        row = conn.execute(select(incident_outbox).where(incident_outbox.c.incident_id == iid)).mappings().one()
    assert row["claimed_by"] == "n1"
    assert first.drain(time.monotonic() + 20) == 1  # n1 sends it after the wait
    assert len(cards(double)) == 1


def test_alerts_and_decisions_are_applied_in_log_order(db: Store) -> None:
    """A split logged before a new alert of the split-out service: the alert joins the
    split-out incident (processing every alert of the chunk first put it in the old one)."""
    owner = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1")
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2")
    (a,) = owner.ingest([mk("Down", "payments", 0.0)]).incidents
    slow = mk("Slow", "search", 1.0, fp="s1")
    (b,) = owner.ingest([slow]).incidents
    owner.decide({"kind": "merge", "into": a, "other": b, "by": "U1", "reason": "one outage"})
    with db.engine.begin() as conn:  # what `decide` on a replica that does not correlate logs
        alert_log.append_command(conn, "split", {"incident": a, "alert_ids": [slow.id], "by": "U2",
                                                 "reason": "", "at": 0.0}, 0.0)
    later = mk("Slow2", "search", 2.0, fp="s2")
    other.ingest([later])  # logged after the split, in the same chunk the owner reads
    owner.drain()
    split_out = {iid for iid, _n in incident_rows(db) if slow.id in members(db, iid)}
    assert len(split_out) == 1 and split_out != {a}
    assert members(db, split_out.pop()) == {slow.id, later.id}
    assert members(db, a) == {owner.engine.incidents[a].first_alert_id}


def test_a_save_longer_than_the_lease_keeps_it_while_the_heartbeat_renews(db: Store) -> None:
    """Slow evidence for an incident (here a change provider taking 3 lease periods) must not
    let another replica take over mid-save: the ticker's heartbeat renews the lease without
    the pipeline's lock."""
    def slow_provider(conn, services, start, end):  # type: ignore[no-untyped-def]
        time.sleep(1.5)
        return []

    owner = AlertPipeline(db, catalog(), providers=[slow_provider], clock=clock_at(200), holder="r1",
                          lease_ttl=0.5)
    other = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2", lease_ttl=0.5)
    stop = threading.Event()

    def heartbeat() -> None:  # what AlertTicker's heartbeat thread does
        while not stop.wait(0.5 / 3):
            owner.renew_lease()

    def rival() -> None:  # the other replica's ticker, ready to take an expired lease
        while not stop.wait(0.05):
            other.drain()

    threads = [threading.Thread(target=heartbeat), threading.Thread(target=rival)]
    for t in threads:
        t.start()
    try:
        result = owner.ingest(storm(3))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(result.incidents) == 1 and owner.is_owner and not other.is_owner
    assert incident_rows(db) == [(result.incidents[0], 3)]


def test_the_log_numbers_a_batch_in_its_order(db: Store) -> None:
    """PostgreSQL appends take the lock and insert in one statement: still in the batch's order."""
    batch = storm(60)[::-1]
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, batch, 0.0)
        first, last = alert_log.append(conn, batch, 0.0)
    with db.engine.connect() as conn:
        rows = alert_log.read_after(conn, first - 1)
    assert last - first == 59 and [r[0] for r in rows] == list(range(first, last + 1))
    assert [a.id for _seq, a in rows] == [a.id for a in batch]  # type: ignore[union-attr]


# --- thread follow-ups through the outbox ---------------------------------------------------------
def thread_texts(double: SlackDouble, ts: str) -> list[str]:
    """The incident thread's own messages (not the triage's), in the order Slack got them."""
    return [c.params["text"] for c in double.of("chat.postMessage") if c.params.get("thread_ts") == ts
            and (c.params.get("metadata") or {}).get("event_type") == THREAD_METADATA_TYPE]


def announced(texts: list[str]) -> int:
    """How many alerts the thread announced: the first list's lines (and its '… and K more'),
    then each 'N more alerts joined' head (its lines may run over several messages)."""
    n, in_first = 0, False
    for t in texts:
        joined = re.match(r"(\d+) more alerts? joined:", t)
        if joined:
            n, in_first = n + int(joined.group(1)), False
            continue
        in_first = in_first or t.startswith("Alerts in this incident:")
        if in_first:
            n += sum(1 for line in t.splitlines() if line.startswith("• "))
            n += sum(int(m) for m in re.findall(r"^… and (\d+) more$", t, flags=re.M))
    return n


def test_a_follow_up_the_dead_poster_did_not_post_is_posted_once_by_whoever_posts_next(
        db: Store, double: SlackDouble) -> None:
    """Replica r1 posts the card, then dies before posting the next 'N more alerts joined';
    r2 posts it (once), then r1's successor process posts the one after: nothing lost,
    nothing repeated, though no poster saw the others' messages."""
    p = outbox_pipeline(db)
    alerts = storm(10)
    _, iid = first_card(db, double, p, alerts[:5])
    where = card_of(db, iid)
    p.ingest(alerts[5:8])  # saved with its outbox change; r1 is killed before it posts it
    r2 = notifier_for(db, double, "r2")
    assert r2.poll() == 1 and r2.run_pending() == 1
    assert thread_texts(double, where[1])[-1].startswith("3 more alerts joined:")
    p.ingest(alerts[8:])
    r1b = notifier_for(db, double, "r1b")  # r1 restarted: a new process, nothing in memory
    assert r1b.poll() == 1 and r1b.run_pending() == 1
    texts = thread_texts(double, where[1])
    assert texts[-1].startswith("2 more alerts joined:") and announced(texts) == 10, texts
    assert r2.poll() == 0 and r2.run_pending() == 0  # nothing left for anyone


def test_a_crash_between_a_thread_post_and_its_record_does_not_post_it_twice(db: Store, double: SlackDouble) -> None:
    p = outbox_pipeline(db)
    alerts = storm(8)
    (iid,) = p.ingest(alerts[:5]).incidents
    where = killed_after_a_thread_post(db, double, p, alerts, iid)
    r2 = notifier_for(db, double, "r2")
    assert r2.poll() == 0  # r1's claim is live
    expire_claim(db, iid)  # r1 is dead: its claim runs out
    assert r2.poll() == 1 and r2.run_pending() == 1
    texts = thread_texts(double, where[1])
    assert [t.split("\n")[0] for t in texts] == ["Alerts in this incident:", "3 more alerts joined:"]  # found, not re-posted
    assert outbox.thread_unsent(db, iid) == []


def killed_after_a_thread_post(db: Store, double: SlackDouble, p: AlertPipeline, alerts: list, iid: str) -> tuple:
    """r1 posts the card of `alerts[:5]`; `alerts[5:]` join; r1's poster claims, plans the
    follow-up, starts it, posts it... and is killed before it records the message's ts (the
    steps of IncidentNotifier._send_claimed). Returns where the card is."""
    r1 = notifier_for(db, double, "r1")
    r1.on_incidents([iid])
    assert r1.run_pending() == 1
    where = card_of(db, iid)
    p.ingest(alerts[5:])
    assert outbox.claim(db, iid, "r1", ttl=30) is not None
    found = s_get(db, iid)
    assert outbox.plan_thread(db, iid, "r1", 30, lambda told: thread_news(told, found[0], found[1], card_posted=True))
    (msg,) = outbox.thread_unsent(db, iid)
    assert outbox.start_thread_post(db, iid, msg.seq, "r1", 30)
    WebClient(token="xoxb-test", base_url=double.base_url).chat_postMessage(
        channel=CHANNEL, thread_ts=where[1], text=msg.text,
        metadata={"event_type": THREAD_METADATA_TYPE, "event_payload": {"incident_id": iid, "token": msg.token}})
    return where


def expire_claim(db: Store, iid: str) -> None:
    """The claim's holder died: its claim has run out (no waiting for a real expiry)."""
    with db.engine.begin() as conn:
        conn.execute(incident_outbox.update().where(incident_outbox.c.incident_id == iid).values(claimed_until=0))


def test_a_rate_limited_look_into_the_thread_posts_nothing_twice(db: Store, double: SlackDouble) -> None:
    """The successor's look for the dead poster's message is rate-limited: it retries the
    look after Retry-After rather than post what a partial look did not find."""
    p = outbox_pipeline(db)
    alerts = storm(8)
    (iid,) = p.ingest(alerts[:5]).incidents
    where = killed_after_a_thread_post(db, double, p, alerts, iid)
    expire_claim(db, iid)
    now = [0.0]
    r2 = notifier_for(db, double, "r2")
    r2.clock = lambda: now[0]
    double.fail_next("conversations.replies", status=429, retry_after=1)
    assert r2.poll() == 1 and r2.run_pending() == 0  # the look was refused: nothing posted
    assert len(thread_texts(double, where[1])) == 2
    now[0] += 2  # Retry-After passed
    assert r2.run_pending() == 1
    texts = thread_texts(double, where[1])
    assert [t.split("\n")[0] for t in texts] == ["Alerts in this incident:", "3 more alerts joined:"], texts
    assert outbox.thread_unsent(db, iid) == []


def test_a_resolve_still_unposted_when_its_card_version_is_given_up_on_is_posted_later(
        db: Store, double: SlackDouble, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack rate-limits the 'Resolved' follow-up past MAX_TRIES: the card version is given
    up on, but the follow-up stays queued, and a replica posts it though nothing changes again."""
    monkeypatch.setattr(incidents_mod, "MAX_TRIES", 1)
    p = outbox_pipeline(db)
    (iid,) = p.ingest(storm(3)).incidents
    now = [0.0]
    r1 = notifier_for(db, double, "r1")
    r1.clock = lambda: now[0]
    r1.on_incidents([iid])
    assert r1.run_pending() == 1
    assert p.resolve_by_hand(iid, "U9")  # the last change this incident will ever have
    r1.on_incidents([iid])
    for _ in range(2):
        double.fail_next("chat.postMessage", status=429, retry_after=1)
    assert r1.run_pending() == 0  # rate-limited: retried after Retry-After
    now[0] += 2
    assert r1.run_pending() == 0  # rate-limited again: this card version is given up on
    assert [m.text.split(" ")[0] for m in outbox.thread_unsent(db, iid)] == [":white_check_mark:"]
    with db.engine.connect() as conn:
        row = conn.execute(select(incident_outbox).where(incident_outbox.c.incident_id == iid)).mappings().one()
    assert row["sent_version"] == row["version"]
    expire_claim(db, iid)  # r1 dies
    r2 = notifier_for(db, double, "r2")
    assert r2.poll() == 1 and r2.run_pending() == 1
    where = card_of(db, iid)
    texts = thread_texts(double, where[1])
    assert sum(t.startswith(":white_check_mark: Resolved") for t in texts) == 1, texts
    assert outbox.thread_unsent(db, iid) == [] and r2.poll() == 0


@pytest.mark.parametrize("error", ["token_revoked", "not_in_channel", "channel_not_found"])
def test_a_slack_refusal_of_every_post_keeps_the_follow_up_queued(db: Store, double: SlackDouble, error: str) -> None:
    """A refusal that is not about the message (the token revoked, the bot out of the
    channel) gives up nothing: the follow-up waits, held by its poster, until Slack takes it."""
    p = outbox_pipeline(db)
    alerts = storm(6)
    (iid,) = p.ingest(alerts[:5]).incidents
    now = [0.0]
    r1 = notifier_for(db, double, "r1")
    r1.clock = lambda: now[0]
    r1.on_incidents([iid])
    assert r1.run_pending() == 1
    r1.on_incidents(p.ingest(alerts[5:]).incidents)
    double.fail_next("chat.postMessage", status=200, body={"ok": False, "error": error})
    assert r1.run_pending() == 0
    assert len(outbox.thread_unsent(db, iid)) == 1  # not given up on
    r2 = notifier_for(db, double, "r2")
    assert r2.poll() == 0  # held by r1 through its back-off: no replica hammers a refusing Slack
    now[0] += 16
    assert r1.run_pending() == 1  # fixed meanwhile: posted
    where = card_of(db, iid)
    assert [t.split("\n")[0] for t in thread_texts(double, where[1])] == ["Alerts in this incident:",
                                                                           "1 more alert joined:"]
    assert outbox.thread_unsent(db, iid) == []


def test_metric_evidence_a_stopped_owner_did_not_save_is_read_by_the_next_one(db: Store) -> None:
    """The owner hands the lease over (stopped, or lost it) while its incident's evidence is
    still being read: the card says 'pending', and its arrival is not saved there (no lease).
    The next owner reads that incident's evidence itself, so the card does not say 'pending'
    forever though no alert of it ever comes again."""
    gate = threading.Event()

    def slow(services, first):  # type: ignore[no-untyped-def]  # Prometheus, answering late
        gate.wait(30)
        return MetricEvidence(checked=list(services))

    def quick(services, first):  # type: ignore[no-untyped-def]
        return MetricEvidence(checked=list(services))

    a = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r1", metrics=slow)
    (iid,) = a.ingest(storm(3)).incidents
    assert s_get(db, iid)[0].metric_note == PENDING_NOTE
    a.release()  # r1 hands the correlator over before its read came back
    gate.set()
    assert a.settle(timeout=30)  # arrived, but r1 no longer owns the incident: not saved there
    assert s_get(db, iid)[0].metric_note == PENDING_NOTE
    b = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200), holder="r2", metrics=quick)
    assert b.is_owner
    b.tick()  # its first round: the incident is saved again, its evidence asked for...
    assert b.settle(timeout=30)  # ... and saved when it arrives
    found = s_get(db, iid)[0]
    assert found.metric_note == "" and found.status == "open"


def s_get(db: Store, iid: str):  # type: ignore[no-untyped-def]
    with db.engine.connect() as conn:
        found = s.get_incident(conn, iid)
    assert found is not None
    return found


def test_resolved_is_told_once_whichever_replica_posts_it(db: Store, double: SlackDouble) -> None:
    p = outbox_pipeline(db)
    (iid,) = p.ingest(storm(3)).incidents
    posters = [notifier_for(db, double, f"n{i}") for i in range(3)]
    posters[0].on_incidents([iid])
    posters[0].run_pending()
    assert p.resolve_by_hand(iid, "U9")
    posters[1].on_incidents([iid])
    posters[1].run_pending()
    posters[2].on_incidents([iid])  # a late repeat of the same change elsewhere
    posters[2].run_pending()
    where = card_of(db, iid)
    texts = thread_texts(double, where[1])
    assert sum(t.startswith(":white_check_mark: Resolved") for t in texts) == 1


def test_a_rate_limited_follow_up_is_retried_once_and_a_refused_one_does_not_block_the_next(
        db: Store, double: SlackDouble) -> None:
    p = outbox_pipeline(db)
    alerts = storm(10)
    n, iid = first_card(db, double, p, alerts[:5])
    where = card_of(db, iid)
    n.on_incidents(p.ingest(alerts[5:7]).incidents)
    double.fail_next("chat.postMessage", status=429, retry_after=1)
    assert n.run_pending() == 0  # the card was updated, its follow-up rate-limited...
    assert n.drain(time.monotonic() + 20) == 1  # ... and sent after Retry-After
    n.on_incidents(p.ingest(alerts[7:9]).incidents)
    double.fail_next("chat.postMessage", status=200, body={"ok": False, "error": "msg_too_long"})
    assert n.run_pending() == 1  # refused for good: given up, logged
    n.on_incidents(p.ingest(alerts[9:]).incidents)
    assert n.run_pending() == 1
    texts = thread_texts(double, where[1])
    assert [t.split("\n")[0] for t in texts] == ["Alerts in this incident:", "2 more alerts joined:",
                                                 "1 more alert joined:"]
    assert outbox.thread_unsent(db, iid) == []


def outbox_row(db: Store, iid: str) -> dict:
    with db.engine.connect() as conn:
        return dict(conn.execute(select(incident_outbox).where(incident_outbox.c.incident_id == iid)).mappings().one())


@pytest.mark.parametrize("error", ["msg_too_long", "invalid_blocks", "invalid_arguments"])
def test_a_first_card_refused_for_good_gives_up_its_thread_and_waits_for_the_next_change(
        db: Store, double: SlackDouble, error: str) -> None:
    """The card itself is refused (too long, bad blocks, an error the bot does not know): its
    thread cannot exist, so nothing is retried every minute; the incident's next change posts
    the card, and its thread starts with the whole list."""
    p = outbox_pipeline(db)
    (iid,) = p.ingest(storm(3)).incidents
    n = notifier_for(db, double, "r1")
    n.on_incidents([iid])
    double.fail_next("chat.postMessage", status=200, body={"ok": False, "error": error})
    assert n.run_pending() == 0 and cards(double) == []
    assert outbox.thread_unsent(db, iid) == []  # given up with the card
    assert n.depth() == 0 and n.poll() == 0  # not queued again, here or anywhere
    expire_claim(db, iid)
    assert notifier_for(db, double, "r2").poll() == 0
    assert p.resolve_by_hand(iid, "U9")  # the next change
    n.on_incidents([iid])
    assert n.run_pending() == 1 and len(cards(double)) == 1
    where = card_of(db, iid)
    texts = thread_texts(double, where[1])
    assert texts[0].startswith("Alerts in this incident:") and announced(texts) == 3, texts
    assert texts[-1].startswith(":white_check_mark: Resolved") and outbox.thread_unsent(db, iid) == []


@pytest.mark.parametrize("error", ["restricted_action_thread_locked", "attachment_payload_limit_exceeded",
                                   "invalid_form_data", "some_error_slack_adds_later"])
def test_an_unknown_refusal_of_a_follow_up_gives_that_message_up_and_blocks_nothing(
        db: Store, double: SlackDouble, error: str) -> None:
    p = outbox_pipeline(db)
    alerts = storm(8)
    n, iid = first_card(db, double, p, alerts[:5])
    n.on_incidents(p.ingest(alerts[5:7]).incidents)
    double.fail_next("chat.postMessage", status=200, body={"ok": False, "error": error})
    assert n.run_pending() == 1  # refused: that message given up, the card version done
    assert n.depth() == 0 and outbox.thread_unsent(db, iid) == []  # nothing waits (nor holds a shutdown)
    n.on_incidents(p.ingest(alerts[7:]).incidents)
    assert n.run_pending() == 1
    where = card_of(db, iid)
    assert [t.split("\n")[0] for t in thread_texts(double, where[1])] == ["Alerts in this incident:",
                                                                           "1 more alert joined:"]


def test_unsent_follow_ups_without_a_card_or_long_given_up_neither_come_back_nor_crowd_out_changes(
        db: Store, double: SlackDouble) -> None:
    """Rows older code left unsent (a card never posted, a give-up hours ago) are not pending:
    they never post, and must not fill `limit` ahead of a change nobody has posted."""
    p = outbox_pipeline(db)
    (no_card,) = p.ingest([mk("Down", "payments", 0.0)]).incidents
    (old,) = p.ingest([mk("Down", "inventory", 1.0)]).incidents
    (recent,) = p.ingest([mk("Down", "search", 2.0)]).incidents
    n = notifier_for(db, double, "r1")
    n.on_incidents([old, recent])
    assert n.run_pending() == 2
    with db.engine.begin() as conn:
        o, t = incident_outbox.c, incident_thread.c
        conn.execute(incident_outbox.update().where(o.incident_id == no_card).values(sent_version=o.version))
        for iid in (no_card, old, recent):  # a follow-up a give-up left queued
            conn.execute(incident_thread.insert().values(incident_id=iid, seq=99, text="x", token=uuid.uuid4().hex))
        conn.execute(incident_outbox.update().where(o.incident_id.in_([no_card, old]))
                     .values(pending_since=lease_store.db_now(conn) - 7200))
        assert conn.execute(select(func.count()).select_from(incident_thread)
                            .where(t.ts.is_(None), t.seq == 99)).scalar_one() == 3
    (fresh,) = p.ingest([mk("Down", "auth", 3.0)]).incidents  # a change nobody has posted
    assert outbox.pending(db, "r2", limit=1) == [fresh]  # a change goes first
    assert sorted(outbox.pending(db, "r2")) == sorted([fresh, recent])  # the recent follow-up is still retried


@pytest.mark.parametrize("error", ["msg_too_long", "invalid_arguments"])
def test_a_refused_card_update_still_tells_the_thread_and_is_not_retried(
        db: Store, double: SlackDouble, error: str) -> None:
    """The card's update is refused for good: that version is given up (logged), but the
    alerts that joined are still announced in the thread, and nothing is queued again."""
    p = outbox_pipeline(db)
    alerts = storm(7)
    n, iid = first_card(db, double, p, alerts[:5])
    n.on_incidents(p.ingest(alerts[5:]).incidents)
    double.fail_next("chat.update", status=200, body={"ok": False, "error": error})
    assert n.run_pending() == 0  # this card version given up on...
    where = card_of(db, iid)
    assert thread_texts(double, where[1])[-1].startswith("2 more alerts joined:")  # ... its thread told
    assert outbox.thread_unsent(db, iid) == [] and n.depth() == 0 and n.poll() == 0
