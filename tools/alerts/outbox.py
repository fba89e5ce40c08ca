"""The incident outbox as the Slack poster sees it (each call one short transaction).

See tools/store/outbox.py: rows are written by the correlator with the incident change;
any replica's poster claims one, posts or updates the card and the thread's follow-ups,
and completes or releases it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy.engine import Connection

from tools.store import outbox as outbox_store
from tools.store.outbox import Claim, ThreadMessage


class ThreadNews(NamedTuple):
    """What to tell an incident's thread: messages to post, items now told, items to forget."""

    texts: list[str]
    told: list[str]
    forget: list[str]


# what the thread has not been told, given what it has (read and written under the claim)
Planner = Callable[[set[str]], ThreadNews]


def pending(store: Any, holder: str, older_than: float = 0.0, limit: int = 200) -> list[str]:
    with store.engine.connect() as conn:
        return outbox_store.pending(conn, holder, older_than, limit)


def claim(store: Any, incident_id: str, holder: str, ttl: float) -> Claim | None:
    with store.begin(write_lock=True) as conn:
        return outbox_store.claim(conn, incident_id, holder, ttl)


def begin_post(store: Any, incident_id: str, holder: str, token: str, ttl: float,
               thread: Planner | None = None) -> bool:
    """Record the card's token (see tools/store/outbox.py) and, with it, the thread's first
    messages: a card posted is a card whose thread is planned, whoever posts it."""
    with store.engine.begin() as conn:
        if not outbox_store.begin_post(conn, incident_id, holder, token, ttl):
            return False
        if thread is not None:
            _plan(conn, incident_id, thread)
        return True


def plan_thread(store: Any, incident_id: str, holder: str, ttl: float, thread: Planner) -> bool:
    """Queue what the thread has not been told, still holding the claim (False: lost)."""
    with store.engine.begin() as conn:
        if not outbox_store.extend(conn, incident_id, holder, ttl):
            return False
        _plan(conn, incident_id, thread)
        return True


def _plan(conn: Connection, incident_id: str, thread: Planner) -> None:
    news = thread(outbox_store.told(conn, incident_id))
    outbox_store.add_thread(conn, incident_id, news.texts, news.told, news.forget)


def thread_unsent(store: Any, incident_id: str) -> list[ThreadMessage]:
    with store.engine.connect() as conn:
        return outbox_store.thread_unsent(conn, incident_id)


def thread_retry_due(store: Any, incident_id: str) -> bool:
    with store.engine.connect() as conn:
        return outbox_store.thread_retry_due(conn, incident_id)


def give_up_thread(store: Any, incident_id: str) -> int:
    with store.engine.begin() as conn:
        return outbox_store.give_up_thread(conn, incident_id)


def start_thread_post(store: Any, incident_id: str, seq: int, holder: str, ttl: float) -> bool:
    with store.engine.begin() as conn:
        return outbox_store.start_thread_post(conn, incident_id, seq, holder, ttl)


def thread_posted(store: Any, incident_id: str, seq: int, ts: str) -> None:
    with store.engine.begin() as conn:
        outbox_store.thread_posted(conn, incident_id, seq, ts)


def hold(store: Any, incident_id: str, holder: str, seconds: float) -> None:
    with store.engine.begin() as conn:
        outbox_store.hold(conn, incident_id, holder, seconds)


def complete(store: Any, incident_id: str, holder: str, version: int, hold_for: float | None = None) -> None:
    with store.engine.begin() as conn:
        outbox_store.complete(conn, incident_id, holder, version, hold_for)


def release(store: Any, incident_id: str, holder: str) -> None:
    with store.engine.begin() as conn:
        outbox_store.release(conn, incident_id, holder)


__all__ = ["Claim", "Planner", "ThreadMessage", "ThreadNews", "begin_post", "claim", "complete", "give_up_thread", "hold",
           "pending", "plan_thread", "release", "start_thread_post", "thread_posted", "thread_retry_due",
           "thread_unsent"]
