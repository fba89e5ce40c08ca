"""The alert store and pipeline on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.alerts_helpers import T0, mk
from tests.stores import open_test_store
from tools.alerts.changes import deployment_changes
from tools.alerts.models import ChangeEvent
from tools.alerts.pipeline import AlertPipeline
from tools.delivery.models import DeploymentEvent
from tools.scenario.topology import catalog
from tools.store import Store
from tools.store import alerts as s
from tools.store.delivery import upsert_deployments

DEP_PREFIX = "alerts-test-"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_test_store(request.param, tmp_path)


def clock_at(seconds: float):  # type: ignore[no-untyped-def]
    return lambda: datetime.fromtimestamp(T0 + seconds, UTC)


def count(store: Store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_retries_update_and_resolve_closes(db: Store) -> None:
    a = mk("HighErrorRate", "payments", 0)
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, [a, a], T0 + 1)
        s.upsert_alerts(conn, [a], T0 + 60)
    with db.engine.connect() as conn:
        (row,) = conn.execute(select(s.alerts)).mappings().all()
    assert (row["notifications"], row["status"], row["last_received_at"]) == (3, "firing", T0 + 60)
    resolved = mk("HighErrorRate", "payments", 300, status="resolved", started=0)
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, [resolved], T0 + 300)
        s.upsert_alerts(conn, [a], T0 + 301)  # a late retry of the firing notification
    with db.engine.connect() as conn:
        (row,) = conn.execute(select(s.alerts)).mappings().all()
    assert row["status"] == "resolved" and row["ends_at"] == T0 + 300 and row["notifications"] == 5
    # a new firing after the resolve is a new occurrence, a new row
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, [mk("HighErrorRate", "payments", 900)], T0 + 900)
    assert count(db, s.alerts) == 2


def test_a_batch_stores_every_field_as_given_on_both_stores(db: Store) -> None:
    """One statement for the whole batch (arrays per column on PostgreSQL): maps, links, raw,
    unicode, missing and present ends and a repeat inside the batch come back as sent."""
    from tools.alerts.models import AlertLinks

    a = mk("HighErrorRate", "payments", 0).model_copy(update={
        "labels": {"pod": "payments-7d9-x", "zone": "eu-west-1a"}, "annotations": {"summary": "5xx > 5 % — ünïcode ✓"},
        "links": AlertLinks(runbook="https://runbooks/x", dashboard=None), "raw": {"nested": {"n": [1, 2.5, None]}}})
    b = mk("DiskFull", "ledger", 30, status="resolved", started=0)
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, [a, b, a], T0 + 40)
    with db.engine.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(select(s.alerts)).mappings()}
    ra, rb = rows[a.id], rows[b.id]
    assert (ra["labels"], ra["annotations"], ra["raw"]) == (a.labels, a.annotations, a.raw)
    assert ra["links"] == {"runbook": "https://runbooks/x"} and ra["ends_at"] is None
    assert (ra["notifications"], ra["status"], ra["first_received_at"]) == (2, "firing", T0 + 40)
    assert (rb["status"], rb["ends_at"], rb["notifications"]) == ("resolved", T0 + 30, 1)


def test_an_alert_placed_twice_in_one_group_ends_in_its_last_incident_on_both_stores(db: Store) -> None:
    """Placed in one incident, moved, and moved back within one group commit: every
    membership is kept and the alert's incident is the last one (PostgreSQL's UPDATE … FROM
    over two rows for one alert used to pick either)."""
    a, b = mk("HighErrorRate", "payments", 0), mk("DiskFull", "ledger", 5)
    with db.engine.begin() as conn:
        s.upsert_alerts(conn, [a, b], T0 + 10)
        s.assign(conn, [(a.id, "inc-a", "opened", T0), (b.id, "inc-b", "opened", T0 + 5),
                        (a.id, "inc-b", "joined", T0 + 6), (a.id, "inc-a", "joined", T0 + 7)])
    with db.engine.connect() as conn:
        placed = dict(conn.execute(select(s.alerts.c.id, s.alerts.c.incident_id)).all())
        members = set(conn.execute(select(s.alert_incident_members.c.incident_id, s.alert_incident_members.c.alert_id)).all())
    assert placed == {a.id: "inc-a", b.id: "inc-b"}
    assert members == {("inc-a", a.id), ("inc-b", a.id), ("inc-b", b.id)}


def test_saved_incidents_come_back_as_their_summaries_on_both_stores(db: Store) -> None:
    """The incidents a group touched are written in one statement (column arrays and
    pydantic's JSON on PostgreSQL): every column and the whole summary read back as saved."""
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200))
    p.ingest([mk("PostgresDown", "postgres-main", 0), mk("HighErrorRate", "payments", 60),
              mk("SearchLatency", "search", 90, namespace="x")])
    saved = {iid: p.summary(iid) for iid in p.engine.incidents}
    with db.engine.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(select(s.alert_incidents)).mappings()}
    assert set(rows) == set(saved) and len(rows) == 2
    for iid, summary in saved.items():
        assert summary is not None
        row = rows[iid]
        assert row["summary"] == summary.model_dump(mode="json", exclude=s._NOT_IN_SUMMARY)
        assert row["services"] == summary.services and row["services_text"] == "|" + "|".join(summary.services) + "|"
        assert (row["status"], row["alert_count"], row["opened_at"]) == (
            summary.status, summary.alert_count, summary.opened_at.timestamp())


def test_pipeline_persists_correlates_and_restores(db: Store) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200))
    r1 = p.ingest([mk("PostgresDown", "postgres-main", 0), mk("HighErrorRate", "payments", 60)])
    r2 = p.ingest([mk("HighErrorRate", "payments", 60), mk("SearchLatency", "search", 90, namespace="x")])
    assert len(r1.opened) == 1 and len(r2.opened) == 1
    assert count(db, s.alerts) == 3 and count(db, s.alert_incidents) == 2
    with db.engine.connect() as conn:
        listed = s.list_incidents(conn, status="all")
        only_payments = s.list_incidents(conn, service="payments")
        detail, members = s.get_incident(conn, r1.opened[0])
    assert [i.id for i in only_payments] == r1.opened
    assert {i.id for i in listed} == {*r1.opened, *r2.opened}
    assert detail.alert_count == 2 and detail.duplicates == 1
    assert sorted(m.name for m in members) == ["HighErrorRate", "PostgresDown"]
    assert detail.causes[0].service == "postgres-main"
    # a restart: a new pipeline on the same store keeps grouping into the open incident
    p2 = AlertPipeline(db, catalog(), providers=[], clock=clock_at(250))
    r3 = p2.ingest([mk("HighErrorRate", "checkout", 120)])
    assert r3.opened == [] and r3.incidents == r1.opened


def test_cause_ranking_names_the_deployment_before_the_first_alert(db: Store) -> None:
    first = datetime.fromtimestamp(T0, UTC)
    with db.engine.begin() as conn:
        upsert_deployments(conn, [
            DeploymentEvent(id=f"{DEP_PREFIX}pay-42", service="payments", finished_at=first - timedelta(minutes=12),
                            status="success", version="v42"),
            DeploymentEvent(id=f"{DEP_PREFIX}pay-41", service="payments", finished_at=first - timedelta(hours=5),
                            status="success", version="v41"),  # too long before
            DeploymentEvent(id=f"{DEP_PREFIX}ranking-9", service="ranking", finished_at=first - timedelta(minutes=5),
                            status="success"),  # not affected, not a dependency
        ])
    p = AlertPipeline(db, catalog(), providers=[deployment_changes], clock=clock_at(300))
    res = p.ingest([
        mk("HighErrorRate", "payments", 0),
        mk("HighErrorRate", "checkout", 45),
        mk("HighErrorRate", "web-frontend", 80),
    ])
    (iid,) = res.opened
    summary = p.summary(iid)
    assert summary is not None
    top = summary.causes[0]
    assert top.service == "payments"
    assert top.change is not None and top.change.id == f"{DEP_PREFIX}pay-42"
    assert any("12 min before the first alert" in e for e in top.evidence)
    assert any("most upstream affected service" in e for e in top.evidence)
    assert summary.suspect_change.id == f"{DEP_PREFIX}pay-42"
    assert [c.service for c in summary.causes] == ["payments", "checkout", "web-frontend"]


def test_drift_provider_plugs_in(db: Store) -> None:
    at = datetime.fromtimestamp(T0 - 600, UTC)

    def drift(conn, services, start, end):  # type: ignore[no-untyped-def]
        return [ChangeEvent(kind="model_drift", id="ranker-v7", service="ranking", at=at, summary="feature drift 0.31")]

    p = AlertPipeline(db, catalog(), providers=[drift], clock=clock_at(100))
    (iid,) = p.ingest([mk("SearchLatency", "search", 0), mk("RankingErrors", "ranking", 30)]).opened
    summary = p.summary(iid)
    assert summary.causes[0].service == "ranking"
    assert summary.suspect_change.kind == "model_drift"


def test_actions_are_recorded_with_who(db: Store) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(200))
    (iid,) = p.ingest([mk("A", "payments", 0)]).opened
    with db.engine.begin() as conn:
        assert s.record_action(conn, iid, "ack", "U123", T0 + 120)
        assert s.record_action(conn, iid, "ack", "U999", T0 + 130)  # recorded, first ack wins
        assert not s.record_action(conn, "inc-nope", "ack", "U1", T0)
    assert p.resolve_by_hand(iid, "U456")
    with db.engine.connect() as conn:
        detail, _ = s.get_incident(conn, iid)
        acts = [(a["action"], a["user"]) for a in s.actions_of(conn, iid)]
    assert (detail.acked_by, detail.acked_at) == ("U123", datetime.fromtimestamp(T0 + 120, UTC))
    assert (detail.status, detail.resolved_by) == ("resolved", "U456")
    assert (detail.time_to_ack_s, detail.time_to_resolve_s) == (120.0, 200.0)
    assert acts == [("ack", "U123"), ("ack", "U999"), ("resolve", "U456")]


def test_quiet_period_close_is_saved_by_tick(db: Store) -> None:
    now = {"t": 0.0}
    p = AlertPipeline(db, catalog(), providers=[], clock=lambda: datetime.fromtimestamp(T0 + now["t"], UTC))
    (iid,) = p.ingest([mk("A", "payments", 0)]).opened
    now["t"] = 600
    p.ingest([mk("A", "payments", 600, status="resolved", started=0)])
    now["t"] = 600 + 299
    assert p.tick() == []
    now["t"] = 600 + 301
    assert p.tick() == [iid]
    with db.engine.connect() as conn:
        assert s.list_incidents(conn, status="open") == []
        (closed,) = s.list_incidents(conn, status="resolved")
    assert closed.resolved_at == datetime.fromtimestamp(T0 + 900, UTC)


def test_an_ack_in_pagerduty_acknowledges_the_incident(db: Store) -> None:
    import json
    from pathlib import Path

    from tools.alerts.parsers import parse_pagerduty

    body = json.loads((Path(__file__).parent / "fixtures" / "alerts" / "pagerduty.json").read_text())
    p = AlertPipeline(db, catalog(), providers=[], clock=lambda: datetime(2026, 11, 20, 10, 5, tzinfo=UTC))
    (iid,) = p.ingest(parse_pagerduty(body)).opened
    body["event"]["event_type"] = "incident.acknowledged"
    assert p.ingest(parse_pagerduty(body)).incidents == [iid]
    with db.engine.connect() as conn:
        detail, _ = s.get_incident(conn, iid)
        acts = s.actions_of(conn, iid)
    assert detail.acked_by == "Tenex Engineer" and detail.time_to_ack_s == 50.0  # 10:04:10 -> 10:05:00
    assert [(a["action"], a["surface"]) for a in acts] == [("ack", "pagerduty")]


def test_an_engine_merge_moves_members_records_it_and_keeps_the_old_id(db: Store) -> None:
    p = AlertPipeline(db, catalog(), providers=[], clock=clock_at(100))
    (a,) = p.ingest([mk("AuthErrors", "auth", 0)]).opened
    (b,) = p.ingest([mk("InventoryErrors", "inventory", 20)]).opened
    p.ingest([mk("PostgresDown", "postgres-main", 60)])  # the cause: one incident now
    rec = p.engine.merges[-1]
    with db.engine.connect() as conn:
        live, members = s.get_incident(conn, rec.merged)  # the absorbed id resolves
        decisions = s.decisions_of(conn, rec.into)
        shell = conn.execute(select(s.alert_incidents.c.status).where(s.alert_incidents.c.id == rec.merged)).scalar_one()
    assert {a, b} == {rec.into, rec.merged} and live.id == rec.into and shell == "merged"
    assert {m.service for m in members} == {"auth", "inventory", "postgres-main"}
    assert [(x["action"], x["target"], x["by"]) for x in decisions] == [("merge", rec.merged, "engine")]
    p.ingest([mk("AuthLatency", "auth", 90)])  # a later save does not record the merge twice
    with db.engine.connect() as conn:
        assert len(s.decisions_of(conn, rec.into)) == 1


def test_a_confirmed_cause_is_a_dora_failure_until_the_incident_resolves(db: Store) -> None:
    from tools.alerts import decisions
    from tools.store import delivery as d

    first = datetime.fromtimestamp(T0, UTC)
    with db.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent(id=f"{DEP_PREFIX}pay-7", service="payments", status="success",
                                                  finished_at=first - timedelta(minutes=5))])
    now = [120.0]
    p = AlertPipeline(db, catalog(), providers=[deployment_changes], clock=lambda: datetime.fromtimestamp(T0 + now[0], UTC))
    (iid,) = p.ingest([mk("HighErrorRate", "payments", 0)]).opened
    dora_id = decisions.confirm_cause(p, iid, f"{DEP_PREFIX}pay-7", "U1")
    with db.engine.connect() as conn:
        row = conn.execute(select(d.incidents).where(d.incidents.c.id == dora_id)).mappings().one()
        signal = conn.execute(select(d.failure_signals).where(d.failure_signals.c.source_id == dora_id)).mappings().one()
    assert row["caused_by_deployment"] == f"{DEP_PREFIX}pay-7" and row["resolved_at"] is None
    assert signal["shipped"] and signal["resolved_at"] is None
    now[0] = 400.0
    p.ingest([mk("HighErrorRate", "payments", 300, status="resolved", started=0)])
    now[0] = 1000.0
    p.ingest([])  # the quiet period passed: the incident resolves, and so does the recovery
    with db.engine.connect() as conn:
        resolved = conn.execute(select(d.incidents.c.resolved_at).where(d.incidents.c.id == dora_id)).scalar_one()
        sig = conn.execute(select(d.failure_signals.c.resolved_at).where(d.failure_signals.c.source_id == dora_id)).scalar_one()
    assert resolved == sig == T0 + 600  # last alert 300 + quiet 300
    assert decisions.reject_cause(p, iid, f"{DEP_PREFIX}pay-7", "U2") is True
    with db.engine.connect() as conn:
        assert d.confirmed_cause(conn, iid) is None
        assert conn.execute(select(func.count()).select_from(d.failure_signals)
                            .where(d.failure_signals.c.source_id == dora_id)).scalar_one() == 0
