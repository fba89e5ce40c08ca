"""Slack may deliver the same event more than once (retries); remember which we handled."""

from __future__ import annotations

from sqlalchemy import Column, String, Table, delete
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, insert_for, metadata
from tools.timeutil import now_utc

slack_events = Table(
    "slack_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("seen_at", Epoch, nullable=False, index=True),
)

KEEP_SECONDS = 24 * 3600


def first_time_seen(conn: Connection, event_id: str | None) -> bool:
    """True once per event id, across restarts and replicas sharing the database.

    ON CONFLICT DO NOTHING rather than catching the duplicate key: an error would abort the
    caller's whole transaction on PostgreSQL; RETURNING says whether the row was new.
    """
    if not event_id:
        return True
    now = now_utc().timestamp()
    stmt = (insert_for(conn, slack_events).values(event_id=event_id, seen_at=now)
            .on_conflict_do_nothing(index_elements=["event_id"]).returning(slack_events.c.event_id))
    if conn.execute(stmt).first() is None:  # (an INSERT's rowcount is not reliable on psycopg)
        return False
    if hash(event_id) % 100 == 0:  # prune now and then
        conn.execute(delete(slack_events).where(slack_events.c.seen_at < now - KEEP_SECONDS))
    return True
