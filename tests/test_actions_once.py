"""Once, by the database: two replicas (two engines on one database) and many simultaneous
clicks approve one suggestion → one execution; simultaneous approvals of different
suggestions of one action never slip past the per-action rate limit. On SQLite and on
PostgreSQL (TRIOPS_TEST_DATABASE_URL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agent import actions
from bot.agent.actions import Suggestion
from tests.doubles.pagerduty import FROM, TOKEN, PagerDutyDouble
from tools import approvals, audit
from tools.contract import ToolContext, ToolRegistry
from tools.settings import Settings
from tools.store import Store

CLICKS = 8


@pytest.fixture
def pd() -> Iterator[PagerDutyDouble]:
    with PagerDutyDouble() as d:
        yield d  # type: ignore[misc]


@pytest.fixture
def replicas(ctx: ToolContext, tmp_path: Path, pd: PagerDutyDouble) -> Iterator[list[ToolContext]]:
    """`ctx` and a second replica: its own engine (connection pool) on the same database."""
    ctx.settings = Settings(_env_file=None, home=tmp_path, database_url=None, TRIOPS_ACTION_ALLOWLIST="pagerduty_add_note",
                            TRIOPS_PAGERDUTY_API_URL=pd.url, TRIOPS_PAGERDUTY_TOKEN=TOKEN, TRIOPS_PAGERDUTY_FROM=FROM,
                            TRIOPS_ACTION_RATE_LIMIT="1")
    other = Store.open(ctx.store.engine.url.render_as_string(hide_password=False), create=False)
    yield [ctx, ToolContext(settings=ctx.settings, store=other, catalog=ctx.catalog, clock=ctx.clock)]
    other.close()


def suggest(ctx: ToolContext, text: str) -> str:
    s = actions.validate(ToolRegistry(), ctx.settings,
                         Suggestion(action="pagerduty_add_note", args={"incident_id": "PT4KHLK", "content": text}))
    return actions.record(ctx.store, s, key="k", by="agent", actor="U1").id


def at_once(replicas: list[ToolContext], rids: list[str]) -> list[str]:
    """CLICKS approvals released together, alternating replicas and requests: their statuses."""
    gate = threading.Barrier(CLICKS)
    out: list[str] = []

    def click(i: int) -> None:
        c = replicas[i % 2]
        gate.wait()
        d = actions.decide(ToolRegistry(), c, c.settings, rids[i % len(rids)], f"UA{i}", True, lambda u: True)
        out.append(d.status)

    threads = [threading.Thread(target=click, args=(i,)) for i in range(CLICKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_replicas_many_clicks_one_execution(replicas: list[ToolContext], pd: PagerDutyDouble) -> None:
    rid = suggest(replicas[0], "restarted checkout")
    statuses = at_once(replicas, [rid])
    assert sorted(statuses) == ["executed"] + ["gone"] * (CLICKS - 1)
    assert len(pd.calls("POST")) == 1  # one note in PagerDuty
    assert approvals.get(replicas[1].store, rid).status == "executed"  # type: ignore[union-attr]
    assert [e["action"] for e in audit.recent(replicas[0].store, 50)].count("execute") == 1


def test_rate_limit_holds_under_simultaneous_approvals(replicas: list[ToolContext], pd: PagerDutyDouble) -> None:
    rids = [suggest(replicas[i % 2], f"note {i}") for i in range(4)]  # four suggestions, limit 1 an hour
    statuses = at_once(replicas, rids)
    assert statuses.count("executed") == 1 and len(pd.calls("POST")) == 1, statuses
    assert set(statuses) <= {"executed", "refused", "gone"}
    left = [approvals.get(replicas[0].store, r).status for r in rids]  # type: ignore[union-attr]
    assert sorted(left) == ["executed", "pending", "pending", "pending"]  # refused ones stay pending
    assert sum(e["action"] == "approval_refused" for e in audit.recent(replicas[0].store, 100)) >= 3
