"""Shared fixtures: a `store` on SQLite (always) and PostgreSQL (when configured), a `ctx`.

PostgreSQL runs when TRIOPS_TEST_DATABASE_URL is set. Each test gets its own schema
(selected through the connection's search_path), dropped afterwards, so several test
processes can share one database without seeing each other's rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.stores import open_test_store
from tools.catalog import ServiceCatalog
from tools.contract import ToolContext
from tools.settings import Settings
from tools.store import Store

if TYPE_CHECKING:
    from tests.slack_harness import SlackHarness

FIXED_NOW = datetime(2026, 3, 31, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store with every table created; one per test, on each configured database."""
    yield from open_test_store(request.param, tmp_path)


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


@pytest.fixture
def harnesses() -> Iterator[list[SlackHarness]]:
    """Slack harnesses a test starts (append them), stopped after it."""
    started: list[SlackHarness] = []
    yield started
    for h in started:
        h.stop()
