"""Shared fixtures: a `store` on SQLite (always) and PostgreSQL (when configured), a `ctx`.

PostgreSQL runs when TRIOPS_TEST_DATABASE_URL is set. Each test gets its own schema
(selected through the connection's search_path), dropped afterwards, so several test
processes can share one database without seeing each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from tools.catalog import ServiceCatalog
from tools.contract import ToolContext
from tools.settings import Settings, normalise_database_url
from tools.store import Store

PG_URL_ENV = "TRIOPS_TEST_DATABASE_URL"
FIXED_NOW = datetime(2026, 3, 31, tzinfo=UTC)


def _postgres_url() -> str | None:
    url = os.environ.get(PG_URL_ENV, "").strip()
    return normalise_database_url(url) if url else None


def _with_search_path(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store with every table created; one per test, on each configured database."""
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'triops.db'}")
        try:
            yield s
        finally:
            s.close()
        return
    base = _postgres_url()
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


@pytest.fixture
def now() -> datetime:
    """The fixed 'now' of `ctx`; override in a test module to move the clock."""
    return FIXED_NOW


@pytest.fixture
def catalog() -> ServiceCatalog:
    """An empty catalog; override in a test module to give services and teams."""
    return ServiceCatalog()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, home=tmp_path, database_url=None)


@pytest.fixture
def ctx(settings: Settings, store: Store, catalog: ServiceCatalog, now: datetime) -> ToolContext:
    return ToolContext(settings=settings, store=store, catalog=catalog, clock=lambda: now)
