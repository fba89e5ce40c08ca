"""Conversations (per Slack thread or console session) and the assistant's usage book.

Each call is its own transaction on `store` (tools/store/conversations.py has the same
functions inside a caller's transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.store import conversations as _conv
from tools.store.conversations import (
    Conversation,
    Turn,
    UsageLine,
    estimate_tokens,
    trim,
)

if TYPE_CHECKING:
    from tools.store import Store


def load(store: Store, key: str) -> Conversation:
    with store.engine.connect() as conn:
        return _conv.load(conn, key)


def append_turn(store: Store, key: str, turn: Turn, tokens: int, max_history_tokens: int) -> Conversation:
    """Add a turn and the tokens it cost; the read and the write hold the write lock."""
    with store.begin(write_lock=True) as conn:
        return _conv.append_turn(conn, key, turn, tokens, max_history_tokens)


def forget(store: Store, key: str) -> bool:
    """Drop a conversation; True if there was one."""
    with store.begin() as conn:
        return _conv.forget(conn, key)


def record_usage(store: Store, **row: Any) -> None:
    with store.begin() as conn:
        _conv.record_usage(conn, **row)


def usage_summary(store: Store, since: float | None = None) -> list[UsageLine]:
    with store.engine.connect() as conn:
        return _conv.usage_summary(conn, since)


def exists(store: Store, key: str) -> bool:
    with store.engine.connect() as conn:
        return _conv.exists(conn, key)


__all__ = ["Conversation", "Turn", "UsageLine", "append_turn", "estimate_tokens", "exists", "forget",
           "load", "record_usage", "trim", "usage_summary"]
