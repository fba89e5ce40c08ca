"""The delivery store: idempotent upserts and commit_leads kept in step with deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.store.delivery import (
    commit_leads,
    deployment_commits,
    deployments,
    failure_signals,
    incidents,
    rebuild_failure_signals,
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
            select(
                commit_leads.c.service,
                commit_leads.c.sha,
                commit_leads.c.deployment_id,
                commit_leads.c.deployed_at,
            )
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
        {
            "id": "d1",
            "service": "checkout",
            "finished_at": T0,
            "status": "success",
            "commits": [{"sha": "a"}],
        }
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
        assert conn.execute(select(incidents.c.resolved_at)).scalars().all() == [
            resolved.timestamp()
        ]
    with store.engine.begin() as conn:
        upsert_incidents(conn, [IncidentEvent.model_validate({**base, "severity": "SEV1"})])
        upsert_incidents(conn, [])
    with store.engine.connect() as conn:
        row = conn.execute(select(incidents)).one()
    assert (row.resolved_at, row.severity) == (None, "SEV1")


# --- failure_signals: what marks a deployment failed, kept in step at ingest ---------------


def signals(store) -> dict[tuple[str, str], tuple]:  # type: ignore[no-untyped-def]
    fs = failure_signals
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                fs.c.source,
                fs.c.source_id,
                fs.c.deployment_id,
                fs.c.service,
                fs.c.finished_at,
                fs.c.shipped,
            )
        )
        return {(r[0], r[1]): (r[2], r[3], r[4], bool(r[5])) for r in rows}


def incident(id: str, cause: str | None, **kw) -> IncidentEvent:  # type: ignore[no-untyped-def]
    return IncidentEvent.model_validate(
        {
            "id": id,
            "service": "checkout",
            "opened_at": T0 + timedelta(hours=2),
            "caused_by_deployment": cause,
            **kw,
        }
    )


def test_an_incident_before_its_deployment_is_linked_when_the_deployment_arrives(store) -> None:
    with store.engine.begin() as conn:
        upsert_incidents(conn, [incident("i1", "d1")])
    assert signals(store) == {("incident", "i1"): ("d1", None, None, False)}
    ingest(store, dep("d1", 1, ["a"]))
    assert signals(store) == {("incident", "i1"): ("d1", "checkout", at(1), True)}


def test_signals_follow_status_and_repointed_or_dropped_links(store) -> None:
    ingest(store, dep("d1", 1, ["a"]), dep("d2", 2, ["b"]))
    ingest(store, dep("r1", 3, [], kind="rollback", remediates="d1"))
    with store.engine.begin() as conn:
        upsert_incidents(conn, [incident("i1", "d2")])
    assert signals(store) == {
        ("remediation", "r1"): ("d1", "checkout", at(1), True),
        ("incident", "i1"): ("d2", "checkout", at(2), True),
    }
    ingest(store, dep("d1", 1, ["a"], status="failure"))  # no longer a shipped deployment
    assert signals(store)[("remediation", "r1")] == ("d1", "checkout", at(1), False)
    ingest(store, dep("r1", 3, [], kind="rollback", remediates="d2"))  # re-pointed
    with store.engine.begin() as conn:
        upsert_incidents(conn, [incident("i1", None)])  # link dropped
    assert signals(store) == {("remediation", "r1"): ("d2", "checkout", at(2), True)}
    ingest(store, dep("r1", 3, ["c"]))  # now a normal deployment: names nothing
    assert signals(store) == {}


def test_rebuilding_the_signals_gives_what_ingest_kept(store) -> None:
    ingest(store, dep("d1", 1, ["a"]), dep("d2", 2, ["b"], environment="staging"))
    ingest(
        store,
        dep("r1", 3, [], kind="rollback", remediates="d1"),
        dep("h1", 4, ["c"], kind="hotfix", remediates="d2"),
    )
    with store.engine.begin() as conn:
        upsert_incidents(
            conn, [incident("i1", "d1"), incident("i2", "nowhere"), incident("i3", None)]
        )
    kept = signals(store)
    assert len(kept) == 4
    with store.engine.begin() as conn:
        rebuild_failure_signals(conn)
    assert signals(store) == kept


def test_commit_leads_keep_the_lead_to_the_millisecond(store) -> None:
    event = DeploymentEvent.model_validate(
        {
            "id": "d1",
            "service": "checkout",
            "finished_at": T0,
            "status": "success",
            "commits": [
                {"sha": "a", "committed_at": T0 - timedelta(hours=2, microseconds=1500)},
                {"sha": "b"},
            ],
        }
    )
    ingest(store, event)
    with store.engine.connect() as conn:
        got = dict(conn.execute(select(commit_leads.c.sha, commit_leads.c.lead_ms)).all())
    assert got == {"a": 2 * 3600 * 1000 + 1, "b": None}  # 7 200 001.5 ms, floored
