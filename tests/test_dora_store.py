"""The delivery store: idempotent upserts and commit_leads kept in step with deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.store.delivery import (
    commit_leads,
    deployment_commits,
    deployments,
    incidents,
    upsert_deployments,
    upsert_incidents,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def dep(id: str, hours: float, shas: list[str], **kw) -> DeploymentEvent:  # type: ignore[no-untyped-def]
    fields = {
        "id": id,
        "service": "checkout",
        "finished_at": T0 + timedelta(hours=hours),
        "status": "success",
        "commits": [{"sha": s, "committed_at": T0 - timedelta(hours=1)} for s in shas],
    }
    return DeploymentEvent.model_validate({**fields, **kw})


def ingest(store, *events: DeploymentEvent) -> None:  # type: ignore[no-untyped-def]
    with store.engine.begin() as conn:
        upsert_deployments(conn, list(events))


def leads(store) -> dict[tuple[str, str], tuple[str, float]]:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(commit_leads.c.service, commit_leads.c.sha, commit_leads.c.deployment_id, commit_leads.c.deployed_at)
        )
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}


def count(store, table) -> int:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def at(hours: float) -> float:
    return (T0 + timedelta(hours=hours)).timestamp()


def test_upserting_the_same_events_twice_stores_them_once(store) -> None:
    events = [dep("d1", 1, ["a", "b"]), dep("d2", 2, ["b", "c"]), dep("d3", 3, [])]
    ingest(store, *events)
    snapshot = (count(store, deployments), count(store, deployment_commits), leads(store))
    ingest(store, *events)
    ingest(store, *events[:1])
    assert (count(store, deployments), count(store, deployment_commits), leads(store)) == snapshot
    assert snapshot[:2] == (3, 4)
    assert snapshot[2] == {
        ("checkout", "a"): ("d1", at(1)),
        ("checkout", "b"): ("d1", at(1)),
        ("checkout", "c"): ("d2", at(2)),
    }


def test_a_later_line_for_the_same_id_wins_within_a_batch(store) -> None:
    ingest(store, dep("d1", 1, ["a"]), dep("d1", 5, ["b"], version="v2"))
    with store.engine.connect() as conn:
        row = conn.execute(select(deployments)).one()
    assert (row.version, row.finished_at, row.commit_count) == ("v2", at(5), 1)
    assert leads(store) == {("checkout", "b"): ("d1", at(5))}


def test_commit_lead_moves_when_a_deployment_turns_from_success_to_failure(store) -> None:
    ingest(store, dep("d1", 1, ["a", "b"]), dep("d2", 2, ["a"]))
    assert leads(store)[("checkout", "a")] == ("d1", at(1))
    ingest(store, dep("d1", 1, ["a", "b"], status="failure"))
    assert leads(store) == {("checkout", "a"): ("d2", at(2))}  # b was only ever in d1
    ingest(store, dep("d2", 2, ["a"], status="failure"))
    assert leads(store) == {}
    ingest(store, dep("d1", 1, ["a", "b"]))  # and back to success
    assert leads(store) == {("checkout", "a"): ("d1", at(1)), ("checkout", "b"): ("d1", at(1))}


def test_commit_lead_follows_environment_service_and_commit_list_changes(store) -> None:
    ingest(store, dep("d1", 1, ["a"]), dep("d2", 2, ["a"]))
    ingest(store, dep("d1", 1, ["a"], environment="staging"))
    assert leads(store) == {("checkout", "a"): ("d2", at(2))}
    ingest(store, dep("d2", 2, ["a"], service="search"))
    assert leads(store) == {("search", "a"): ("d2", at(2))}  # checkout's only prod copy moved
    ingest(store, dep("d2", 2, ["z"], service="search"))  # a dropped from d2's commit list
    assert leads(store) == {("search", "z"): ("d2", at(2))}


def test_the_same_sha_in_two_services_has_a_lead_in_each(store) -> None:
    ingest(store, dep("d1", 1, ["a"]), dep("d2", 3, ["a"], service="search"))
    assert leads(store) == {("checkout", "a"): ("d1", at(1)), ("search", "a"): ("d2", at(3))}


def test_a_commit_without_time_is_kept_without_a_lead_time(store) -> None:
    event = DeploymentEvent.model_validate(
        {"id": "d1", "service": "checkout", "finished_at": T0, "status": "success", "commits": [{"sha": "a"}]}
    )
    ingest(store, event)
    with store.engine.connect() as conn:
        row = conn.execute(select(commit_leads)).one()
    assert (row.sha, row.committed_at, row.deployed_at) == ("a", None, T0.timestamp())


def test_large_batches_cross_every_chunk_size(store) -> None:
    n = 2500  # more than one IN-list chunk (900) and more than one upsert statement
    events = [dep(f"d{i}", i / 10, [f"s{i}", f"s{i + 1}"]) for i in range(n)]
    ingest(store, *events)
    assert count(store, deployments) == n
    assert count(store, commit_leads) == n + 1
    assert leads(store)[("checkout", "s1")] == ("d0", at(0))
    ingest(store, *[e.model_copy(update={"status": "failure"}) for e in events[::2]])
    got = leads(store)
    assert got[("checkout", "s1")] == ("d1", at(0.1))  # d0 failed, d1 also holds s1
    assert ("checkout", "s0") not in got
    assert len(got) == n  # s0 alone is gone


def test_incident_updates_win_and_can_reopen(store) -> None:
    base = {"id": "i1", "service": "checkout", "opened_at": T0, "caused_by_deployment": "d1"}
    resolved = T0 + timedelta(hours=2)
    with store.engine.begin() as conn:
        upsert_incidents(conn, [IncidentEvent.model_validate(base)])
        upsert_incidents(conn, [IncidentEvent.model_validate({**base, "resolved_at": resolved})])
        upsert_incidents(conn, [IncidentEvent.model_validate({**base, "resolved_at": resolved})])
    with store.engine.connect() as conn:
        assert conn.execute(select(incidents.c.resolved_at)).scalars().all() == [resolved.timestamp()]
    with store.engine.begin() as conn:
        upsert_incidents(conn, [IncidentEvent.model_validate({**base, "severity": "SEV1"})])
        upsert_incidents(conn, [])
    with store.engine.connect() as conn:
        row = conn.execute(select(incidents)).one()
    assert (row.resolved_at, row.severity) == (None, "SEV1")
