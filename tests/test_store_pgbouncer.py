"""PgBouncer in transaction mode (before 1.21) cannot carry server-side prepared statements:
`?prepare_threshold=none` on TRIOPS_DATABASE_URL turns them off; by default psycopg prepares
a statement after 5 runs, which the alert ingest's fixed statements rely on for speed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.alerts_helpers import T0, mk
from tests.stores import _with_search_path, postgres_url
from tools.store import Store
from tools.store import alerts as s


@pytest.fixture
def schema_url() -> Iterator[str]:
    base = postgres_url()
    if not base:
        pytest.skip("TRIOPS_TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _prepared_after_ten_batches(url: str) -> int:
    store = Store.open(url)
    try:
        with store.engine.connect() as conn:  # one session: pg_prepared_statements is per session
            for i in range(10):
                with conn.begin():
                    s.upsert_alerts(conn, [mk("HighErrorRate", "payments", i, fp=f"fp-{i}")], T0 + i)
            return int(conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one())
    finally:
        store.close()


def test_prepare_threshold_none_turns_server_side_prepares_off(schema_url: str) -> None:
    assert _prepared_after_ten_batches(schema_url) >= 1  # psycopg's default: prepared after 5 runs
    assert _prepared_after_ten_batches(schema_url + "&prepare_threshold=none") == 0


def test_a_bad_prepare_threshold_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="prepare_threshold must be a whole number or 'none', not 'soon'"):
        Store.open("postgresql+psycopg://u@127.0.0.1:1/x?prepare_threshold=soon", create=False)
