"""The store: SQLAlchemy Core over SQLite (default, a file in TRIOPS_HOME) or PostgreSQL.

Every table module is imported here so `create_all` knows them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

from tools.settings import Settings, normalise_database_url
from tools.store import (  # noqa: F401  (registers tables)
    actions,
    alert_log,
    alerts,
    audit,
    conversations,
    delivery,
    lease,
    metric_conditions,
    models,
    outbox,
    parked,
    slack_events,
)
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
            url, connect_args = _pg_connect_args(url)
            engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args)
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

    @contextmanager
    def begin(self, *, write_lock: bool = False) -> Iterator[Connection]:
        """A transaction for the functions of tools/store/*.py: committed on success.

        `write_lock` for a read-then-write (e.g. appending a turn): on SQLite the write lock
        is taken before the read (BEGIN IMMEDIATE; pysqlite would otherwise begin only at
        the write), on PostgreSQL the reads use FOR UPDATE themselves.
        """
        with self.engine.begin() as conn:
            if write_lock and conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        metadata.create_all(self.engine)

    def drop_all(self) -> None:
        metadata.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    # 64 MB page cache (default 2 MB): the DORA queries' index probes re-read pages otherwise.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _pg_connect_args(url: str) -> tuple[str, dict[str, Any]]:
    """psycopg's `prepare_threshold` from the URL's query (`?prepare_threshold=none` turns
    server-side prepared statements off, as PgBouncer in transaction mode before 1.21 needs;
    a number sets after how many runs a statement is prepared). libpq would refuse it as a
    connection option, and psycopg needs it as a number or None, not text."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    raw = parsed.query.get("prepare_threshold")
    if raw is None:
        return url, {}
    value = raw[-1] if isinstance(raw, tuple) else raw
    if value.strip().lower() in ("none", "off", "false", ""):
        threshold: int | None = None
    elif value.strip().isdigit():
        threshold = int(value)
    else:
        raise ValueError(f"TRIOPS_DATABASE_URL: prepare_threshold must be a whole number or 'none', not {value!r}")
    return parsed.difference_update_query(["prepare_threshold"]).render_as_string(hide_password=False), {"prepare_threshold": threshold}
