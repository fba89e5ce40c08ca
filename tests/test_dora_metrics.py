"""Every DORA figure of the hand-computed log (tests/data/dora_small_expected.yaml)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, select

from tests.dora_data import CATALOG, expected, load_batch, load_event_by_event
from tools.catalog import ServiceCatalog
from tools.dora import levels, metrics
from tools.dora.tool import dora_metrics
from tools.store.delivery import commit_leads, deployments, incidents

EXPECTED = expected()
AS_OF = datetime(2026, 3, 31, tzinfo=UTC)


@pytest.fixture
def catalog() -> ServiceCatalog:
    return CATALOG


@pytest.fixture
def loaded(ctx):  # type: ignore[no-untyped-def]
    load_event_by_event(ctx.store)
    return ctx


def _report(ctx, scope: str):  # type: ignore[no-untyped-def]
    args = {
        "scope": None if scope == "org" else scope,
        "window": EXPECTED["window"],
        "as_of": AS_OF,
    }
    return dora_metrics.call(ctx, args)


def _assert_matches(actual: object, want: object, path: str) -> None:
    if isinstance(want, dict):
        assert isinstance(actual, dict), path
        for key, value in want.items():
            assert key in actual, f"{path}.{key} missing"
            _assert_matches(actual[key], value, f"{path}.{key}")
    elif isinstance(want, list):
        assert isinstance(actual, list) and len(actual) == len(want), f"{path}: {actual!r}"
        for i, (a, w) in enumerate(zip(actual, want, strict=True)):
            _assert_matches(a, w, f"{path}[{i}]")
    elif isinstance(want, float):
        assert actual == pytest.approx(want, rel=1e-9, abs=1e-9), f"{path}: {actual!r} != {want!r}"
    else:
        assert actual == want, f"{path}: {actual!r} != {want!r}"


@pytest.mark.parametrize("scope", list(EXPECTED["scopes"]))
def test_every_figure_matches_the_hand_computation(loaded, scope: str) -> None:
    report = _report(loaded, scope).model_dump(mode="json")
    for period in ("current", "previous"):
        _assert_matches(report[period], EXPECTED["scopes"][scope][period], f"{scope}.{period}")


def test_scopes_and_windows_are_reported(loaded) -> None:
    org = _report(loaded, "org")
    assert org.scope.kind == "org"
    assert org.services == ["batch-jobs", "checkout", "payments-api"]
    assert org.current.window.start == AS_OF - timedelta(days=30)
    assert org.current.window.end == AS_OF
    assert org.previous.window.end == org.current.window.start
    assert org.level_source == levels.LEVEL_SOURCE
    team = _report(loaded, "team-payments")
    assert (team.scope.kind, team.scope.name) == ("team", "payments")
    assert _report(loaded, "batch-jobs").scope.kind == "service"


def test_reingesting_the_log_as_one_batch_changes_nothing(loaded) -> None:
    before = {s: _report(loaded, s).model_dump() for s in ("org", "checkout", "payments")}
    counts = _table_counts(loaded.store)
    load_batch(loaded.store)
    assert _table_counts(loaded.store) == counts
    assert {s: _report(loaded, s).model_dump() for s in before} == before


def _table_counts(store) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (deployments, commit_leads, incidents)
        )


def test_stored_once_in_utc_and_the_update_wins(loaded) -> None:
    with loaded.store.engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                select(deployments).where(deployments.c.id.in_(["chk-c1", "pay-p2", "chk-c8"]))
            )
        }
        inc5 = conn.execute(select(incidents).where(incidents.c.id == "inc-5")).one()
        n_c8 = conn.execute(
            select(func.count()).select_from(deployments).where(deployments.c.id == "chk-c8")
        ).scalar_one()
    assert rows["chk-c1"].finished_at == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert rows["pay-p2"].finished_at == datetime(2026, 3, 20, tzinfo=UTC).timestamp()
    assert n_c8 == 1
    assert (rows["chk-c8"].status, rows["chk-c8"].version) == ("success", "v8")
    assert inc5.resolved_at == datetime(2026, 3, 20, 3, tzinfo=UTC).timestamp()
    assert inc5.opened_at == datetime(2026, 3, 20, 0, 30, tzinfo=UTC).timestamp()


def test_a_later_as_of_takes_in_the_deployment_at_the_old_window_end(loaded) -> None:
    """chk-c7 finished exactly at 03-31 00:00: outside [03-01, 03-31), inside the next day's window."""
    later = dora_metrics.call(
        loaded, {"scope": "checkout", "window": "30d", "as_of": AS_OF + timedelta(days=1)}
    )
    ids_at = {d.deployment_id for d in later.current.recovery_time.open_failures}
    # chk-c1 (03-01 00:00) has left the window; chk-c7 joined; inc-4 (04-01 06:00) is still
    # after as_of; chk-r3 (04-01 00:00, at as_of) now remediates chk-c6.
    assert later.current.deployment_frequency.deployments == 8  # -c1 +c7
    assert "chk-c6" not in ids_at


# --- deploy-day offsets: half-open like the window ----------------------------------------


def test_day_offsets_put_the_window_start_on_the_last_day() -> None:
    end = AS_OF.timestamp()
    day = metrics.DAY_S
    finished = np.array([end - 30 * day, end - 21 * day, end - 21 * day + 1, end - 1.0])
    assert metrics.day_offsets(finished, end).tolist() == [0, 20, 29]


# --- levels at their boundaries (DORA 2023 as DevLake bins it) -----------------------------

H = 1.0
D = 24.0


@pytest.mark.parametrize(
    ("hours", "level"),
    [
        (0.0, "elite"),
        (D - 1e-9, "elite"),
        (D, "high"),
        (7 * D - 1e-9, "high"),
        (7 * D, "medium"),
        (30 * D - 1e-9, "medium"),
        (30 * D, "low"),
        (None, None),
    ],
)
def test_lead_time_levels(hours: float | None, level: str | None) -> None:
    assert levels.lead_time_level(hours) == level


@pytest.mark.parametrize(
    ("hours", "level"),
    [
        (0.0, "elite"),
        (H - 1e-9, "elite"),
        (H, "high"),
        (D - 1e-9, "high"),
        (D, "medium"),
        (7 * D - 1e-9, "medium"),
        (7 * D, "low"),
        (None, None),
    ],
)
def test_recovery_levels(hours: float | None, level: str | None) -> None:
    assert levels.recovery_level(hours) == level


@pytest.mark.parametrize(
    ("percent", "level"),
    [
        (0.0, "elite"),
        (5.0, "elite"),
        (5.0 + 1e-9, "high"),
        (10.0, "high"),
        (10.0 + 1e-9, "medium"),
        (15.0, "medium"),
        (15.0 + 1e-9, "low"),
        (100.0, "low"),
        (None, None),
    ],
)
def test_change_fail_levels(percent: float | None, level: str | None) -> None:
    assert levels.change_fail_level(percent) == level


@pytest.mark.parametrize(
    ("per_week", "per_month", "level"),
    [
        (3.0, 12.0, "elite"),
        (2.5, 10.0, "high"),
        (1.0, 4.0, "high"),
        (0.5, 2.0, "medium"),
        (0.0, 1.0, "medium"),
        (0.0, 0.0, "low"),
    ],
)
def test_frequency_levels(per_week: float, per_month: float, level: str) -> None:
    assert levels.frequency_level(per_week, per_month) == level


def test_frequency_of_a_window_shorter_than_a_week_scales_to_a_week() -> None:
    stats = metrics.deployment_frequency(4, np.array([0, 1]), 2.0)
    assert stats.median_deploy_days_per_week == pytest.approx(7.0)  # 2 of 2 days -> 7 of 7
    assert stats.level == "elite"


def test_a_remediation_finished_before_what_it_names_does_not_mark_it_failed(ctx) -> None:
    from tools.delivery.models import DeploymentEvent
    from tools.store.delivery import upsert_deployments

    t = AS_OF - timedelta(days=2)
    events = [
        {"id": "x1", "service": "checkout", "finished_at": t, "status": "success"},
        {
            "id": "x2",
            "service": "checkout",
            "finished_at": t - timedelta(hours=1),
            "status": "success",
            "kind": "rollback",
            "remediates": "x1",
        },  # names x1 but finished before it
        {"id": "x3", "service": "checkout", "finished_at": t, "status": "success"},
        {
            "id": "x4",
            "service": "checkout",
            "finished_at": t,
            "status": "success",
            "kind": "rollback",
            "remediates": "x3",
        },  # same instant counts as later
    ]
    with ctx.store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent.model_validate(e) for e in events])
    cfr = dora_metrics.call(
        ctx, {"scope": "checkout", "window": "7d", "as_of": AS_OF}
    ).current.change_fail_rate
    assert (cfr.deployments, cfr.failed_deployments) == (4, ["x3"])


def test_commits_without_a_time_are_counted_apart(ctx) -> None:
    from tools.delivery.models import DeploymentEvent
    from tools.store.delivery import upsert_deployments

    t = AS_OF - timedelta(days=1)
    event = {
        "id": "y1",
        "service": "checkout",
        "finished_at": t,
        "status": "success",
        "commits": [{"sha": "a", "committed_at": t - timedelta(hours=5)}, {"sha": "b"}],
    }
    with ctx.store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent.model_validate(event)])
    lead = dora_metrics.call(ctx, {"scope": "checkout", "window": "7d", "as_of": AS_OF}).current.lead_time
    assert (lead.commits, lead.commits_without_time, lead.median_hours) == (1, 1, 5.0)
