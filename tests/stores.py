"""Test stores: SQLite in a temp folder, or PostgreSQL in a schema of its own.

PostgreSQL runs when TRIOPS_TEST_DATABASE_URL is set. Each store gets a fresh schema
(selected through the connection's search_path) dropped afterwards, so test processes can
share one database and never see each other's rows or an older run's tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from tools.settings import normalise_database_url
from tools.store import Store

PG_URL_ENV = "TRIOPS_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    url = os.environ.get(PG_URL_ENV, "").strip()
    return normalise_database_url(url) if url else None


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def open_test_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    """`yield from open_test_store(request.param, tmp_path)` in a fixture over both kinds."""
    if kind == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'triops.db'}")
        try:
            yield s
        finally:
            s.close()
        return
    base = postgres_url()
    if not base:
        pytest.skip(f"{PG_URL_ENV} is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        s = Store.open(_with_search_path(base, schema))
        try:
            yield s
        finally:
            s.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
