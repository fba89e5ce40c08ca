"""The store: SQLAlchemy Core over SQLite (default, a file in TRIOPS_HOME) or PostgreSQL.

Every table module is imported here so `create_all` knows them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, event

from tools.settings import Settings, normalise_database_url
from tools.store import actions, alerts, audit, conversations, delivery, models, slack_events  # noqa: F401  (registers tables)
from tools.store.base import metadata


@dataclass
class Store:
    engine: Engine

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> Store:
        url = normalise_database_url(url)
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        elif url.startswith("postgresql"):
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
        else:
            raise ValueError("TRIOPS_DATABASE_URL must be a sqlite:// or postgresql:// URL")
        store = cls(engine)
        if create:
            store.create_all()
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        if not settings.database_url:
            settings.home.mkdir(parents=True, exist_ok=True)
        return cls.open(settings.sqlalchemy_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def drop_all(self) -> None:
        metadata.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # 64 MB page cache (default 2 MB): the DORA queries' index probes re-read pages otherwise.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()
