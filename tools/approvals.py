"""Action requests awaiting a human: created once, decided once (the database enforces it)."""

from __future__ import annotations

from tools.store.actions import ActionRequest, create, get, mark_posted, transition, unposted

__all__ = ["ActionRequest", "create", "get", "mark_posted", "transition", "unposted"]
