"""Opening the store: the one entry surfaces use (SQLite file by default, PostgreSQL by URL)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.settings import Settings
    from tools.store import Store as Store


def open_store(settings: Settings) -> Store:
    from tools.store import Store as Store

    return Store.from_settings(settings)


def open_url(url: str, *, create: bool = True) -> Store:
    from tools.store import Store as Store

    return Store.open(url, create=create)
