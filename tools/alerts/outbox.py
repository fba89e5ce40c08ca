"""The incident outbox as the Slack poster sees it (each call one short transaction).

See tools/store/outbox.py: rows are written by the correlator with the incident change;
any replica's poster claims one, posts or updates the card, and completes or releases it.
"""

from __future__ import annotations

from typing import Any

from tools.store import outbox as outbox_store
from tools.store.outbox import Claim


def pending(store: Any, holder: str, older_than: float = 0.0, limit: int = 200) -> list[str]:
    with store.engine.connect() as conn:
        return outbox_store.pending(conn, holder, older_than, limit)


def claim(store: Any, incident_id: str, holder: str, ttl: float) -> Claim | None:
    with store.begin(write_lock=True) as conn:
        return outbox_store.claim(conn, incident_id, holder, ttl)


def begin_post(store: Any, incident_id: str, holder: str, token: str, ttl: float) -> bool:
    with store.engine.begin() as conn:
        return outbox_store.begin_post(conn, incident_id, holder, token, ttl)


def hold(store: Any, incident_id: str, holder: str, seconds: float) -> None:
    with store.engine.begin() as conn:
        outbox_store.hold(conn, incident_id, holder, seconds)


def complete(store: Any, incident_id: str, holder: str, version: int) -> None:
    with store.engine.begin() as conn:
        outbox_store.complete(conn, incident_id, holder, version)


def release(store: Any, incident_id: str, holder: str) -> None:
    with store.engine.begin() as conn:
        outbox_store.release(conn, incident_id, holder)


__all__ = ["Claim", "begin_post", "claim", "complete", "hold", "pending", "release"]
