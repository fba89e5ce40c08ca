"""Slack may deliver the same event more than once (retries); remember which we handled."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, String, Table, delete, insert
from sqlalchemy.exc import IntegrityError

from tools.store.base import Epoch, metadata
from tools.timeutil import now_utc

slack_events = Table(
    "slack_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("seen_at", Epoch, nullable=False, index=True),
)

KEEP_SECONDS = 24 * 3600


def first_time_seen(store: Any, event_id: str | None) -> bool:
    """True once per event id, across restarts and replicas sharing the database."""
    if not event_id:
        return True
    now = now_utc().timestamp()
    try:
        with store.engine.begin() as conn:
            conn.execute(insert(slack_events).values(event_id=event_id, seen_at=now))
    except IntegrityError:
        return False
    if hash(event_id) % 100 == 0:  # prune now and then
        with store.engine.begin() as conn:
            conn.execute(delete(slack_events).where(slack_events.c.seen_at < now - KEEP_SECONDS))
    return True
