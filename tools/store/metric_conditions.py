"""The proactive metrics scan's posted conditions: one row per condition key (its identity,
never its text), so a restart or a second replica sharing the database neither re-posts nor
double-posts. Every change is a compare-and-set that RETURNs whether this caller won."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Column, String, Table, Text, and_, delete, or_, select, update
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, insert_for, metadata

metric_conditions = Table(
    "metric_conditions",
    metadata,
    Column("key_hash", String(64), primary_key=True),  # sha256 of the key: keys hold label sets
    Column("key", Text, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("ts", String(64)),  # the Slack message; NULL while its first post is in flight
    Column("text", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),  # open | resolved
    Column("opened_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False),
    Column("resolved_at", Epoch),
)

CLAIM_LEASE_S = 600.0  # a claim whose post never completed (a crash) may be taken over after this


def _h(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _expired(now: float) -> Any:
    """A claim whose poster never recorded the message within the lease: it died between claim and post."""
    t = metric_conditions
    return and_(t.c.ts.is_(None), t.c.updated_at < now - CLAIM_LEASE_S)


def open_conditions(conn: Connection, channel: str, now: float | None = None) -> dict[str, tuple[str | None, str]]:
    """key -> (message ts or None while being posted, text) of the open conditions. Given `now`,
    expired claims are left out: to the scan they are unposted, so `claim` hands them on."""
    t = metric_conditions
    q = select(t.c.key, t.c.ts, t.c.text).where(t.c.channel == channel, t.c.state == "open")
    if now is not None:
        q = q.where(~_expired(now))
    return {r.key: (r.ts, r.text) for r in conn.execute(q)}


def drop_expired(conn: Connection, channel: str, now: float, keep: set[str]) -> int:
    """Delete the expired claims of conditions not in `keep` (they cleared before anyone posted
    them: nothing to resolve in Slack); the number deleted. A claim renewed meanwhile stays."""
    t = metric_conditions
    stmt = delete(t).where(t.c.channel == channel, t.c.state == "open", _expired(now))
    if keep:
        stmt = stmt.where(t.c.key_hash.not_in([_h(k) for k in keep]))
    return conn.execute(stmt).rowcount


def claim(conn: Connection, key: str, kind: str, channel: str, text: str, now: float) -> bool:
    """Take the right to post `key`: True for exactly one caller while the condition is new,
    resolved, or its earlier claim expired without a post."""
    t = metric_conditions
    row: dict[str, Any] = {"key_hash": _h(key), "key": key, "kind": kind, "channel": channel, "ts": None,
                           "text": text, "state": "open", "opened_at": now, "updated_at": now, "resolved_at": None}
    ins = insert_for(conn, t).values(**row)
    stmt = ins.on_conflict_do_update(
        index_elements=["key_hash"],
        set_={k: ins.excluded[k] for k in row if k != "key_hash"},
        where=or_(t.c.state == "resolved", _expired(now)),
    ).returning(t.c.key_hash)
    return conn.execute(stmt).first() is not None


def posted(conn: Connection, key: str, ts: str, now: float) -> None:
    conn.execute(update(metric_conditions).where(metric_conditions.c.key_hash == _h(key))
                 .values(ts=ts, updated_at=now))


def release(conn: Connection, key: str) -> None:
    """Give a claim back (the post failed): the next scan tries again."""
    conn.execute(delete(metric_conditions).where(metric_conditions.c.key_hash == _h(key),
                                                 metric_conditions.c.ts.is_(None)))


def retext(conn: Connection, key: str, old: str, new: str, now: float) -> str | None:
    """Replace the text if it is still `old`; the message ts when this caller won."""
    t = metric_conditions
    r = conn.execute(update(t).where(t.c.key_hash == _h(key), t.c.state == "open", t.c.text == old,
                                     t.c.ts.is_not(None))
                     .values(text=new, updated_at=now).returning(t.c.ts)).first()
    return None if r is None else str(r.ts)


def resolve(conn: Connection, key: str, now: float) -> tuple[str, str] | None:
    """Mark the condition resolved; (ts, text) when this caller won."""
    t = metric_conditions
    r = conn.execute(update(t).where(t.c.key_hash == _h(key), t.c.state == "open", t.c.ts.is_not(None))
                     .values(state="resolved", resolved_at=now, updated_at=now).returning(t.c.ts, t.c.text)).first()
    return None if r is None else (str(r.ts), str(r.text))
