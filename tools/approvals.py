"""Action requests awaiting a human: created once, decided once (the database enforces it).

Each call is its own transaction on `store` (tools/store/actions.py has the same functions
inside a caller's transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.store import actions as _actions
from tools.store.actions import ActionRequest

if TYPE_CHECKING:
    from tools.store import Store


def create(store: Store, *, action: str, args: dict[str, Any], reason: str | None, suggested_by: str,
           conversation_key: str | None) -> ActionRequest:
    with store.begin() as conn:
        return _actions.create(conn, action=action, args=args, reason=reason,
                               suggested_by=suggested_by, conversation_key=conversation_key)


def get(store: Store, rid: str) -> ActionRequest | None:
    with store.engine.connect() as conn:
        return _actions.get(conn, rid)


def unposted(store: Store, conversation_key: str) -> list[ActionRequest]:
    with store.engine.connect() as conn:
        return _actions.unposted(conn, conversation_key)


def pending_like(store: Store, conversation_key: str, action: str, args: dict[str, Any]) -> ActionRequest | None:
    with store.engine.connect() as conn:
        return _actions.pending_like(conn, conversation_key, action, args)


def mark_posted(store: Store, rid: str, channel: str, message_ts: str) -> None:
    with store.begin() as conn:
        _actions.mark_posted(conn, rid, channel, message_ts)


def transition(store: Store, rid: str, *, from_status: str, to_status: str, user: str | None = None,
               result: str | None = None) -> bool:
    """Move `rid` from one status to the next; False if it was not in `from_status` (lost race)."""
    with store.begin() as conn:
        return _actions.transition(conn, rid, from_status=from_status, to_status=to_status,
                                   user=user, result=result)


def approve(store: Store, rid: str, *, user: str, now: float, fresh_after: float, window_start: float,
            limit: int) -> str:
    """pending → approved, atomically with the age and the per-action rate limit:
    "approved", "limited", "expired" or "lost" (tools/store/actions.py `approve`)."""
    with store.begin(write_lock=True) as conn:
        return _actions.approve(conn, rid, user=user, now=now, fresh_after=fresh_after,
                                window_start=window_start, limit=limit)


def save_preview(store: Store, rid: str, preview: dict[str, Any] | None, incident_id: str | None = None) -> None:
    with store.begin() as conn:
        _actions.save_preview(conn, rid, preview, incident_id)


def followup(store: Store, rid: str) -> dict[str, Any] | None:
    """The request's dry-run, follow-up claim and outcome (None before any)."""
    with store.engine.connect() as conn:
        return _actions.followup(conn, rid)


def record_outcome(store: Store, rid: str, outcome: str, detail: str, now: float) -> None:
    with store.begin() as conn:
        _actions.record_outcome(conn, rid, outcome, detail, now)


def executions_since(store: Store, action: str, since: float) -> int:
    with store.engine.connect() as conn:
        return _actions.executions_since(conn, action, since)


def expire_stale(store: Store, created_before: float) -> list[str]:
    """Pending suggestions created before `created_before` become `expired`; their ids."""
    with store.begin() as conn:
        return _actions.expire_stale(conn, created_before)


__all__ = ["ActionRequest", "approve", "create", "executions_since", "expire_stale", "followup", "get", "mark_posted", "pending_like",
           "record_outcome", "save_preview", "transition", "unposted"]
