"""The incident outbox: one row per incident message (its Slack card) still to post or update.

The correlator writes a row (or bumps its `version`) in the transaction that saves the
incident, so a change committed is a change that will be posted, whichever replica is
alive. A poster claims a row before sending (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one
writer on SQLite) for `ttl` seconds; the claim of a poster that died expires and another
takes it. Before a first post the poster records a `post_token`, which the message carries
in its metadata: a successor that finds a token but no message ts looks for that message
before posting again, so a crash between the post and the record repeats nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Column, Integer, String, Table, case, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from tools.store.base import Epoch, insert_for, metadata
from tools.store.lease import db_now

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


def pending(conn: Connection, holder: str, older_than: float = 0.0, limit: int = 200) -> list[str]:
    """Incidents with a change unposted for `older_than` seconds that nobody alive is posting
    (the replica that saved it posts it within its coalescing interval; this is the rest)."""
    c = incident_outbox.c
    q = (select(c.incident_id)
         .where(c.version > c.sent_version, _claimable(conn, holder),
                c.pending_since <= db_now(conn) - older_than)
         .order_by(c.pending_since).limit(limit))
    return [r[0] for r in conn.execute(q)]


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


def complete(conn: Connection, incident_id: str, holder: str, version: int) -> None:
    """The card shows `version` (or that version is given up on): release the claim."""
    c = incident_outbox.c
    conn.execute(update(incident_outbox).where(c.incident_id == incident_id, c.claimed_by == holder).values(
        sent_version=case((c.sent_version < version, version), else_=c.sent_version),
        claimed_by=None, claimed_until=None,
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
