"""Store fixtures for the MLOps tests: SQLite always, PostgreSQL when
TRIOPS_TEST_DATABASE_URL is set — in a database of its own, created and dropped here,
so parallel test runs on the same server never see each other's rows."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tools.settings import normalise_database_url
from tools.store import Store

PG_URL = os.environ.get("TRIOPS_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="TRIOPS_TEST_DATABASE_URL not set")])]


def _pg_store() -> Iterator[Store]:
    base = make_url(normalise_database_url(PG_URL or ""))
    name = f"triops_mlops_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    store = Store.open(base.set(database=name).render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def open_store(kind: str, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    """Use as `yield from open_store(request.param, tmp_path)` in a fixture with params=BACKENDS."""
    if kind == "sqlite":
        store = Store.open(f"sqlite:///{tmp_path / 'triops.db'}")
        yield store
        store.close()
    else:
        yield from _pg_store()
