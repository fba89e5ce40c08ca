"""The seam between the metrics scan worker and its store table (tools/store/metric_conditions):
one transaction per call, so every claim, text change and resolve is decided by the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tools.store import metric_conditions as _mc

if TYPE_CHECKING:
    from tools.store import Store


def open_conditions(store: Store, channel: str, now: float | None = None) -> dict[str, tuple[str | None, str]]:
    with store.begin() as conn:
        return _mc.open_conditions(conn, channel, now)


def drop_expired(store: Store, channel: str, now: float, keep: set[str]) -> int:
    with store.begin() as conn:
        return _mc.drop_expired(conn, channel, now, keep)


def claim(store: Store, key: str, kind: str, channel: str, text: str, now: float) -> bool:
    with store.begin() as conn:
        return _mc.claim(conn, key, kind, channel, text, now)


def posted(store: Store, key: str, ts: str, now: float) -> None:
    with store.begin() as conn:
        _mc.posted(conn, key, ts, now)


def release(store: Store, key: str) -> None:
    with store.begin() as conn:
        _mc.release(conn, key)


def retext(store: Store, key: str, old: str, new: str, now: float) -> str | None:
    with store.begin() as conn:
        return _mc.retext(conn, key, old, new, now)


def resolve(store: Store, key: str, now: float) -> tuple[str, str] | None:
    with store.begin() as conn:
        return _mc.resolve(conn, key, now)
