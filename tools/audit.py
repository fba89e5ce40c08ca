"""The audit trail as the rest of triops sees it: who asked, which tool ran, who approved.

Each call is its own transaction on `store` (tools/store/audit.py has the same functions
inside a caller's transaction).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.store import audit as _audit

if TYPE_CHECKING:
    from tools.store import Store


def record(store: Store, actor: str, action: str, subject: str | None = None, **detail: Any) -> None:
    with store.begin() as conn:
        _audit.record(conn, actor, action, subject, **detail)


def recent(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The newest entries first."""
    with store.engine.connect() as conn:
        return _audit.recent(conn, limit)


__all__ = ["recent", "record"]
