"""Seen-once keys: a sender's retry (Slack's event_id, a webhook delivery id) is handled once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.store import slack_events as _events

if TYPE_CHECKING:
    from tools.store import Store


def first_time_seen(store: Store, event_id: str | None) -> bool:
    """True once per event id, across restarts and replicas sharing the database."""
    with store.begin() as conn:
        return _events.first_time_seen(conn, event_id)


__all__ = ["first_time_seen"]
