"""The incident outbox: one row per incident message (its Slack card) still to post or update.

The correlator writes a row (or bumps its `version`) in the transaction that saves the
incident, so a change committed is a change that will be posted, whichever replica is
alive. A poster claims a row before sending (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one
writer on SQLite) for `ttl` seconds; the claim of a poster that died expires and another
takes it. Before a first post the poster records a `post_token`, which the message carries
in its metadata: a successor that finds a token but no message ts looks for that message
before posting again, so a crash between the post and the record repeats nothing.

The card's thread gets the same treatment. Under the claim, the poster works out what the
thread has not been told (`incident_thread_told`: each alert fingerprint announced, and
markers) and writes those messages as rows of `incident_thread` in one transaction; then
posts each row, marking it started before and posted (its ts) after, with its token in
the message metadata. Whoever holds the claim next posts the rows still unposted, first
looking in the thread for the ones a dead poster had started: each follow-up is posted
once whichever replica posts it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import (
    Column,
    Integer,
    String,
    Table,
    Text,
    case,
    delete,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from tools.store.alerts import alert_incidents
from tools.store.base import Epoch, insert_for, metadata
from tools.store.lease import db_now

# how long after its change a thread follow-up whose card version was given up on is still
# retried with nothing changing: beyond that only the incident's next change retries it
THREAD_RETRY_MAX_S = 3600.0

incident_outbox = Table(
    "incident_outbox",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("version", Integer, nullable=False),  # +1 per change to post
    Column("sent_version", Integer, nullable=False),  # the version the card shows
    Column("pending_since", Epoch),  # when the oldest unposted change was enqueued
    Column("claimed_by", String(128)),
    Column("claimed_until", Epoch),
    Column("post_token", String(40)),  # set before a first post; carried in its metadata
    Column("post_started_at", Epoch),
)


incident_thread = Table(
    "incident_thread",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),  # the message's place in the thread
    Column("text", Text, nullable=False),
    Column("token", String(40), nullable=False),  # carried in its metadata
    Column("started_at", Epoch),  # a post began: look for it in the thread before posting again
    Column("ts", String(32)),  # Slack's ts, once posted
)

incident_thread_told = Table(
    "incident_thread_told",
    metadata,
    Column("incident_id", String(40), primary_key=True),
    Column("item", String(210), primary_key=True),  # "a:<fingerprint>" announced, or a marker "m:…"
)


class Claim(NamedTuple):
    version: int
    post_token: str | None
    post_started_at: float | None


def enqueue(conn: Connection, incident_ids: Sequence[str]) -> None:
    """The incidents changed: their cards need posting (in the transaction that changed them)."""
    if not incident_ids:
        return
    c = incident_outbox.c
    now = db_now(conn)
    stmt = insert_for(conn, incident_outbox)
    stmt = stmt.on_conflict_do_update(index_elements=["incident_id"], set_={
        "version": c.version + 1,
        "pending_since": case((c.version == c.sent_version, now), else_=c.pending_since),
    })
    conn.execute(stmt.values(pending_since=now),
                 [{"incident_id": i, "version": 1, "sent_version": 0} for i in sorted(set(incident_ids))])


def _claimable(conn: Connection, holder: str) -> ColumnElement[bool]:
    c = incident_outbox.c
    return c.claimed_by.is_(None) | (c.claimed_by == holder) | (c.claimed_until < db_now(conn))


def _thread_retry_due(conn: Connection, max_age: float) -> ColumnElement[bool]:
    """The row's incident has a posted card and a follow-up still unsent, queued with a change
    at most `max_age` seconds old. A follow-up without a card can never be posted, and an old
    one (left by a give-up long ago) must not come back forever nor crowd out fresh changes."""
    c, t, i = incident_outbox.c, incident_thread.c, alert_incidents.c
    unsent = exists().where(t.incident_id == c.incident_id, t.ts.is_(None))
    carded = exists().where(i.id == c.incident_id, i.slack_ts.is_not(None), i.slack_ts != "")
    return unsent & carded & (c.pending_since >= db_now(conn) - max_age)


def pending(conn: Connection, holder: str, older_than: float = 0.0, limit: int = 200,
            thread_max_age: float = THREAD_RETRY_MAX_S) -> list[str]:
    """Incidents with a change unposted for `older_than` seconds that nobody alive is posting
    (the replica that saved it posts it within its coalescing interval; this is the rest).
    A thread message still unposted under a posted card counts as a change for
    `thread_max_age` seconds: a card version given up on (Slack kept refusing) must not strand
    the "Resolved" queued with it when nothing changes again. Unposted changes come first."""
    c = incident_outbox.c
    changed = c.version > c.sent_version
    q = (select(c.incident_id)
         .where(changed | _thread_retry_due(conn, thread_max_age), _claimable(conn, holder),
                c.pending_since <= db_now(conn) - older_than)
         .order_by(case((changed, 0), else_=1), c.pending_since).limit(limit))
    return [r[0] for r in conn.execute(q)]


def thread_retry_due(conn: Connection, incident_id: str, max_age: float = THREAD_RETRY_MAX_S) -> bool:
    """The incident's unsent follow-ups are still worth retrying with nothing changing (see pending)."""
    c = incident_outbox.c
    q = select(c.incident_id).where(c.incident_id == incident_id, _thread_retry_due(conn, max_age))
    return conn.execute(q).first() is not None


def claim(conn: Connection, incident_id: str, holder: str, ttl: float) -> Claim | None:
    """Claim the incident's message for `ttl` seconds (creating its row if it has none);
    None while another live poster holds it."""
    c = incident_outbox.c
    conn.execute(insert_for(conn, incident_outbox)
                 .values(incident_id=incident_id, version=1, sent_version=0, pending_since=db_now(conn))
                 .on_conflict_do_nothing(index_elements=["incident_id"]))
    row = conn.execute(
        select(c.version, c.post_token, c.post_started_at)
        .where(c.incident_id == incident_id, _claimable(conn, holder))
        .with_for_update(skip_locked=True)
    ).first()
    if row is None:
        return None
    conn.execute(update(incident_outbox).where(c.incident_id == incident_id)
                 .values(claimed_by=holder, claimed_until=db_now(conn) + ttl))
    return Claim(int(row[0]), row[1], row[2])


def begin_post(conn: Connection, incident_id: str, holder: str, token: str, ttl: float) -> bool:
    """About to post the first message: remember its token and hold the claim `ttl` seconds
    more (longer than the post may take). False if the claim was lost or expired: another
    poster may hold it now, and posting would repeat the card."""
    c = incident_outbox.c
    now = db_now(conn)
    done = conn.execute(update(incident_outbox)
                        .where(c.incident_id == incident_id, c.claimed_by == holder, c.claimed_until > now)
                        .values(post_token=token, post_started_at=now, claimed_until=now + ttl))
    return bool(done.rowcount)


def complete(conn: Connection, incident_id: str, holder: str, version: int, hold_for: float | None = None) -> None:
    """The card shows `version` (or that version is given up on): release the claim, or keep
    it `hold_for` seconds more (Slack said when to come back for the thread still unsent)."""
    c = incident_outbox.c
    claim = {"claimed_by": None, "claimed_until": None} if hold_for is None else \
        {"claimed_until": db_now(conn) + hold_for}
    conn.execute(update(incident_outbox).where(c.incident_id == incident_id, c.claimed_by == holder).values(
        sent_version=case((c.sent_version < version, version), else_=c.sent_version), **claim,
    ))


def hold(conn: Connection, incident_id: str, holder: str, seconds: float) -> None:
    """Not sent yet (Slack said retry after `seconds`): keep the claim until then, so no other
    replica sends meanwhile and adds to the rate limit."""
    c = incident_outbox.c
    conn.execute(update(incident_outbox).where(c.incident_id == incident_id, c.claimed_by == holder)
                 .values(claimed_until=db_now(conn) + seconds))


def release(conn: Connection, incident_id: str, holder: str) -> None:
    """Not sent (Slack down, rate-limited): the change stays pending for whoever comes next."""
    c = incident_outbox.c
    conn.execute(update(incident_outbox).where(c.incident_id == incident_id, c.claimed_by == holder)
                 .values(claimed_by=None, claimed_until=None))


def read(conn: Connection, incident_id: str) -> dict | None:
    row = conn.execute(select(incident_outbox).where(incident_outbox.c.incident_id == incident_id)).mappings().first()
    return dict(row) if row else None


class ThreadMessage(NamedTuple):
    seq: int
    text: str
    token: str
    started_at: float | None


def extend(conn: Connection, incident_id: str, holder: str, ttl: float) -> bool:
    """Still the claim's holder: hold it `ttl` seconds more (the fence before writing the
    thread's plan). False if it was lost or expired."""
    c = incident_outbox.c
    now = db_now(conn)
    done = conn.execute(update(incident_outbox)
                        .where(c.incident_id == incident_id, c.claimed_by == holder, c.claimed_until > now)
                        .values(claimed_until=now + ttl))
    return bool(done.rowcount)


def told(conn: Connection, incident_id: str) -> set[str]:
    t = incident_thread_told.c
    return set(conn.execute(select(t.item).where(t.incident_id == incident_id)).scalars())


def add_thread(conn: Connection, incident_id: str, texts: Sequence[str], items: Sequence[str],
               forget: Sequence[str] = ()) -> None:
    """Queue `texts` for the thread (after what is queued) and record `items` as told, in the
    caller's transaction (under the claim)."""
    t = incident_thread.c
    if texts:
        last = conn.execute(select(func.max(t.seq)).where(t.incident_id == incident_id)).scalar() or 0
        conn.execute(delete(incident_thread).where(  # posted: only the last is kept (it numbers the next)
            t.incident_id == incident_id, t.ts.is_not(None), t.seq < last))
        conn.execute(incident_thread.insert(), [
            {"incident_id": incident_id, "seq": last + i, "text": text, "token": uuid.uuid4().hex}
            for i, text in enumerate(texts, 1)])
    if items:
        conn.execute(insert_for(conn, incident_thread_told).on_conflict_do_nothing(),
                     [{"incident_id": incident_id, "item": i} for i in dict.fromkeys(items)])
    if forget:
        k = incident_thread_told.c
        conn.execute(delete(incident_thread_told).where(k.incident_id == incident_id, k.item.in_(list(forget))))


def thread_unsent(conn: Connection, incident_id: str) -> list[ThreadMessage]:
    t = incident_thread.c
    rows = conn.execute(select(t.seq, t.text, t.token, t.started_at)
                        .where(t.incident_id == incident_id, t.ts.is_(None)).order_by(t.seq))
    return [ThreadMessage(int(r[0]), r[1], r[2], r[3]) for r in rows]


def start_thread_post(conn: Connection, incident_id: str, seq: int, holder: str, ttl: float) -> bool:
    """About to post thread message `seq`: mark it started and hold the claim `ttl` more.
    False if the claim was lost or expired (another poster may send it now)."""
    if not extend(conn, incident_id, holder, ttl):
        return False
    t = incident_thread.c
    conn.execute(update(incident_thread).where(t.incident_id == incident_id, t.seq == seq)
                 .values(started_at=func.coalesce(t.started_at, db_now(conn))))
    return True


def give_up_thread(conn: Connection, incident_id: str) -> int:
    """The incident's first card was refused for good, so its thread does not exist: its
    unsent messages are given up (ts "") and what they would have told is forgotten, so the
    card a later change posts starts its thread with the whole list. Returns how many."""
    t, k = incident_thread.c, incident_thread_told.c
    done = conn.execute(update(incident_thread).where(t.incident_id == incident_id, t.ts.is_(None)).values(ts=""))
    conn.execute(delete(incident_thread_told).where(k.incident_id == incident_id))
    return int(done.rowcount)


def thread_posted(conn: Connection, incident_id: str, seq: int, ts: str) -> None:
    t = incident_thread.c
    conn.execute(update(incident_thread).where(t.incident_id == incident_id, t.seq == seq).values(ts=ts))
