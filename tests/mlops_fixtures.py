"""Store fixtures for the MLOps tests: SQLite always, PostgreSQL when
TRIOPS_TEST_DATABASE_URL is set — in a schema of its own (tests/stores.py),
so parallel test runs on the same server never see each other's rows."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.stores import open_test_store
from tools.store import Store

PG_URL = os.environ.get("TRIOPS_TEST_DATABASE_URL")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(not PG_URL, reason="TRIOPS_TEST_DATABASE_URL not set")])]


def open_store(kind: str, tmp_path) -> Iterator[Store]:  # type: ignore[no-untyped-def]
    """Use as `yield from open_store(request.param, tmp_path)` in a fixture with params=BACKENDS."""
    yield from open_test_store(kind, tmp_path)
