"""Two retraining callbacks for one run at the same moment: the store moves the run with a
compare-and-set, so the one that reads a stale status cannot overwrite the other's result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, select, update

from tests.mlops_fixtures import BACKENDS, open_store
from tools.store import Store
from tools.store.models import add_retrain_run, retrain_runs, update_retrain_run


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    yield from open_store(request.param, tmp_path)


def test_a_callback_that_read_a_stale_status_does_not_overwrite_the_other(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(retrain_runs.delete().where(retrain_runs.c.id == "run-race"))
        add_retrain_run(conn, {"id": "run-race", "model": "fraud", "pipeline": "webhook", "status": "started",
                               "requested_at": 100.0, "started_at": 110.0})
    raced: list[str] = []

    def other_callback_lands_first(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # between this callback's read ('started') and its write, a 'failed' callback commits
        if statement.lstrip().upper().startswith("UPDATE RETRAIN_RUNS") and not raced:
            raced.append("failed")
            with store.engine.begin() as other:
                other.execute(update(retrain_runs).where(retrain_runs.c.id == "run-race")
                              .values(status="failed", finished_at=120.0, detail="OOM in training"))

    with store.engine.begin() as conn:
        event.listen(conn, "before_cursor_execute", other_callback_lands_first)
        got = update_retrain_run(conn, "run-race", "fraud", status="succeeded", at=130.0, new_version="13")
    assert raced == ["failed"]
    assert got is not None and got["status"] == "failed" and got["new_version"] is None
    with store.engine.connect() as conn:
        row = conn.execute(select(retrain_runs).where(retrain_runs.c.id == "run-race")).mappings().one()
    assert (row["status"], row["finished_at"], row["detail"], row["new_version"]) == ("failed", 120.0, "OOM in training", None)
