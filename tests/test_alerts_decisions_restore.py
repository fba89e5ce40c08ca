"""Merges and splits survive a restart (a new AlertPipeline on the same store): the absorbed
id resolves in the engine again, the incidents keep the history their cards show, later
saves do not erase it, and the engine never re-merges what a human split. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.alerts_helpers import T0, mk
from tests.stores import open_test_store
from tools.alerts import decisions
from tools.alerts.pipeline import AlertPipeline
from tools.scenario.topology import catalog
from tools.store import Store
from tools.store import alerts as s


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_test_store(request.param, tmp_path)


def pipeline(db: Store, at: float) -> AlertPipeline:
    return AlertPipeline(db, catalog(), providers=[], clock=lambda: datetime.fromtimestamp(T0 + at, UTC))


def test_a_human_merge_and_split_are_rebuilt_after_a_restart(db: Store) -> None:
    p = pipeline(db, 100)
    (a,) = p.ingest([mk("SearchErrors", "search", 0)]).opened
    (b,) = p.ingest([mk("CheckoutErrors", "checkout", 20)]).opened
    (c,) = p.ingest([mk("BillingErrors", "billing", 25, namespace="edge")]).opened
    assert len({a, b, c}) == 3
    decisions.merge(p, a, b, "U5", reason="same outage")
    decisions.merge(p, a, c, "U5")
    split = decisions.split_by_service(p, a, "billing", "U6")
    d = split.into

    p2 = pipeline(db, 200)  # the restart
    assert p2.engine.resolve_id(b) == a and p2.engine.resolve_id(c) == a
    live = p2.summary(a)
    assert live is not None and live.merged_ids == [b, c]
    assert live.merged_by[b] == ["U5", "same outage"]
    right = p2.summary(d)
    assert right is not None and (right.split_from, right.split_by) == (a, "U6")
    # a later alert saves both again: the history stays, and no decision is recorded twice
    p2.ingest([mk("SearchLatency", "search", 150), mk("BillingLatency", "billing", 160, namespace="edge")])
    with db.engine.connect() as conn:
        stored_a, _ = s.get_incident(conn, b)  # the absorbed id still leads to a
        stored_d, _ = s.get_incident(conn, d)
        assert stored_a.id == a and stored_a.merged_ids == [b, c] and stored_d.split_from == a
        assert [(x["action"], x["target"]) for x in s.decisions_of(conn, a)] == [("merge", b), ("merge", c)]
        assert [(x["action"], x["target"], x["by"]) for x in s.decisions_of(conn, d)] == [("split", a, "U6")]
    # a decision by the old id works on the restarted engine
    rec = decisions.merge(p2, d, b, "U7")
    assert (rec.into, rec.merged) == (d, a)


def test_the_engine_never_re_merges_a_human_split_even_after_a_restart(db: Store) -> None:
    """auth and inventory (both on postgres-main) alert together and group; a human splits
    inventory out. PostgresDown then explains both: before the split that merges them (the
    engine's late-cause merge); after it, the cause joins one of them and the split holds."""
    p = pipeline(db, 100)
    (x,) = p.ingest([mk("DBErrors", "auth", 0, message="db connection errors"),
                     mk("DBErrors", "inventory", 10, message="db connection errors")]).opened
    with db.engine.connect() as conn:
        assert {m.service for m in s.get_incident(conn, x)[1]} == {"auth", "inventory"}
    y = decisions.split_by_service(p, x, "inventory", "U6").into

    p2 = pipeline(db, 200)
    p2.ingest([mk("PostgresDown", "postgres-main", 60)])
    assert {p2.engine.resolve_id(x), p2.engine.resolve_id(y)} == {x, y}
    assert not [m for m in p2.engine.merges if m.by == "engine"]
    with db.engine.connect() as conn:
        assert [r["action"] for r in s.decisions_of(conn, x)] == []
        assert [r["action"] for r in s.decisions_of(conn, y)] == ["split"]



def test_without_a_human_split_the_late_cause_merges_them() -> None:
    """The control for the test above: the engine's late-cause merge does happen here."""
    from tools.alerts.correlate import CorrelationEngine

    e = CorrelationEngine(catalog())
    i = e.process(mk("DBErrors", "auth", 0, message="db connection errors")).incident_id
    j = e.process(mk("DBLag", "inventory", 10, message="inventory replica lag")).incident_id
    assert i != j
    e.process(mk("PostgresDown", "postgres-main", 60))
    assert e.resolve_id(i) == e.resolve_id(j) and e.merges[-1].by == "engine"


def test_an_unknown_recorded_action_is_refused_not_ignored() -> None:
    from tools.alerts.correlate import CorrelationEngine

    with pytest.raises(ValueError, match="not a merge or split"):
        CorrelationEngine(catalog()).restore_decision("confirm_cause", "inc-1", "dep-1", by="U1", at=T0)
