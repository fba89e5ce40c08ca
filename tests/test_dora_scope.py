"""`service`, `team` and the ambiguous `scope` stay distinct from the slash words to the tool;
and a window shorter than a day gives counts, never an extrapolated rate or level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from bot.capabilities.dora import parse_dora_args
from bot.router import Asker, Router
from bot.runtime import Runtime
from tools.catalog import ServiceCatalog, resolve_scope
from tools.delivery.models import DeploymentEvent
from tools.dora import metrics
from tools.dora.models import DoraQuery
from tools.dora.tool import dora_metrics
from tools.errors import ToolError
from tools.settings import Settings
from tools.store.delivery import upsert_deployments
from tools.timeutil import Window, parse_window

AS_OF = datetime(2026, 3, 31, tzinfo=UTC)

# A service and a team share the name "payments": the service belongs to team core.
CATALOG = ServiceCatalog.model_validate(
    {
        "services": [
            {"name": "payments", "team": "core"},
            {"name": "checkout", "team": "payments"},
            {"name": "refunds", "team": "payments"},
        ]
    }
)


@pytest.fixture
def catalog() -> ServiceCatalog:
    return CATALOG


def _deploy(conn, id: str, service: str, finished_at: datetime) -> None:  # type: ignore[no-untyped-def]
    event = {"id": id, "service": service, "finished_at": finished_at, "status": "success"}
    upsert_deployments(conn, [DeploymentEvent.model_validate(event)])


@pytest.fixture
def loaded(ctx):  # type: ignore[no-untyped-def]
    day = timedelta(days=1)
    with ctx.store.engine.begin() as conn:
        _deploy(conn, "p1", "payments", AS_OF - 2 * day)
        _deploy(conn, "c1", "checkout", AS_OF - 3 * day)
        _deploy(conn, "c2", "checkout", AS_OF - 4 * day)
        _deploy(conn, "r1", "refunds", AS_OF - 5 * day)
    return ctx


def _run(ctx, **args):  # type: ignore[no-untyped-def]
    return dora_metrics.call(ctx, {"window": "7d", "as_of": AS_OF, **args})


def test_team_payments_is_the_team_even_with_a_service_called_payments(loaded) -> None:
    team = _run(loaded, team="payments")
    assert (team.scope.kind, team.scope.name) == ("team", "payments")
    assert team.services == ["checkout", "refunds"]
    assert team.current.deployment_frequency.deployments == 3


def test_service_payments_is_the_service(loaded) -> None:
    service = _run(loaded, service="payments")
    assert (service.scope.kind, service.scope.name) == ("service", "payments")
    assert service.current.deployment_frequency.deployments == 1


def test_the_ambiguous_scope_tries_a_service_first(loaded) -> None:
    assert _run(loaded, scope="payments").scope.kind == "service"
    assert _run(loaded, scope="refunds").scope.kind == "service"
    assert _run(loaded, scope="core").scope.kind == "team"


def test_an_explicit_kind_is_never_answered_for_the_other(loaded) -> None:
    with pytest.raises(ToolError) as exc:
        _run(loaded, team="checkout")
    assert "team called 'checkout'" in exc.value.message
    assert "There is a service called 'checkout'" in exc.value.message
    with pytest.raises(ToolError) as exc:
        _run(loaded, service="core")
    assert "service called 'core'" in exc.value.message


def test_a_team_seen_only_in_the_store_resolves_as_a_team(ctx) -> None:
    with ctx.store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent.model_validate(
            {"id": "s1", "service": "ledger", "team": "finance", "finished_at": AS_OF - timedelta(days=1),
             "status": "success"}
        )])
    report = _run(ctx, team="finance")
    assert (report.scope.kind, report.current.deployment_frequency.deployments) == ("team", 1)


def test_at_most_one_of_scope_service_and_team() -> None:
    with pytest.raises(ValidationError, match="at most one of scope, service and team"):
        DoraQuery(scope="checkout", team="payments")
    with pytest.raises(ValidationError):
        DoraQuery(service="checkout", team="payments")
    with pytest.raises(ValidationError):
        DoraQuery(scope="payments", service="checkout")
    assert DoraQuery(service="  ", team="payments").team == "payments"  # blank is not given


def test_scope_repeating_the_explicit_name_is_one_subject() -> None:
    """A caller that fills every field it has (the planner's slots) names one thing."""
    q = DoraQuery(scope="payments", team="payments")
    assert (q.scope, q.service, q.team) == (None, None, "payments")
    q = DoraQuery(scope="Checkout", service="checkout")
    assert (q.scope, q.service) == (None, "checkout")


def test_two_subjects_through_the_tool_wrapper_are_a_bad_request(ctx) -> None:
    result = dora_metrics.run(ctx, {"service": "payments", "team": "payments"})
    assert result.status != "ok"
    assert result.error is not None
    assert "at most one of scope, service and team" in result.error.message


def test_resolve_scope_kind_restricts_the_match() -> None:
    assert resolve_scope("payments", CATALOG, kind="team").services == ["checkout", "refunds"]
    assert resolve_scope("payments", CATALOG, kind="service").services == ["payments"]
    assert resolve_scope("payments", CATALOG).kind == "service"
    with pytest.raises(ToolError):
        resolve_scope(None, CATALOG, kind="team")  # a kind needs a name; org needs no kind
    assert resolve_scope(None, CATALOG).kind == "org"


@pytest.mark.parametrize(
    ("words", "args"),
    [
        (["payments"], {"scope": "payments", "window": "30d"}),
        (["team", "payments", "30d"], {"team": "payments", "window": "30d"}),
        (["90d", "team", "payments"], {"team": "payments", "window": "90d"}),
        (["service", "payments"], {"service": "payments", "window": "30d"}),
        (["Team", "payments"], {"team": "payments", "window": "30d"}),
        (["team", "7d"], {"scope": "team", "window": "7d"}),  # no name after it: a plain word
        ([], {"window": "30d"}),
    ],
)
def test_slash_words_fill_the_explicit_fields(words: list[str], args: dict) -> None:
    assert parse_dora_args(words) == args
    DoraQuery.model_validate(args)  # what the parser gives, the tool accepts


def test_slash_team_form_reaches_the_team_through_the_router(tmp_path) -> None:
    rt = Runtime.build(Settings(_env_file=None, home=tmp_path, database_url=None), catalog=CATALOG,
                       clock=lambda: AS_OF)
    with rt.store.engine.begin() as conn:
        _deploy(conn, "p1", "payments", AS_OF - timedelta(days=2))
        _deploy(conn, "c1", "checkout", AS_OF - timedelta(days=3))
    router = Router(rt)
    asker = Asker(user="U1", surface="console")
    team = router.handle("dora team payments 7d", asker)
    service = router.handle("dora payments 7d", asker)
    (team_result,), (service_result,) = team.results, service.results
    assert team_result.output.scope.kind == "team"  # type: ignore[union-attr]  # a DoraReport
    assert service_result.output.scope.kind == "service"  # type: ignore[union-attr]


# --- windows shorter than a day -------------------------------------------------------------


def test_window_shorter_than_a_day_is_sub_day() -> None:
    assert Window.ending(AS_OF, parse_window("23h")).sub_day
    assert not Window.ending(AS_OF, parse_window("24h")).sub_day
    assert not Window.ending(AS_OF, parse_window("1d")).sub_day


def test_one_deployment_in_an_hour_has_no_rate_and_no_level() -> None:
    stats = metrics.deployment_frequency(1, np.array([0]), 1 / 24)
    assert (stats.deployments, stats.deploy_days) == (1, 1)
    assert stats.per_day is None and stats.per_week is None
    assert stats.median_deploy_days_per_week is None and stats.median_deploy_days_per_month is None
    assert stats.level is None
    assert stats.note and "shorter than a day" in stats.note


def test_a_day_long_window_still_has_a_rate_and_a_level() -> None:
    stats = metrics.deployment_frequency(1, np.array([0]), 1.0)
    assert stats.per_day == 1.0 and stats.level == "elite" and stats.note is None


def test_a_1h_window_through_the_tool_counts_without_extrapolating(loaded) -> None:
    with loaded.store.engine.begin() as conn:
        _deploy(conn, "now1", "checkout", AS_OF - timedelta(minutes=30))
    report = _run(loaded, service="checkout", window="1h")
    freq = report.current.deployment_frequency
    assert report.window == "1h"
    assert (freq.deployments, freq.per_week, freq.level) == (1, None, None)
    assert report.previous.deployment_frequency.level is None  # the hour before: same rule
    assert report.model_dump(mode="json")["current"]["deployment_frequency"]["note"]


def test_a_1h_window_renders_counts_and_says_why_there_is_no_rate(loaded) -> None:
    from bot.render.dora import RENDERER

    with loaded.store.engine.begin() as conn:
        _deploy(conn, "now1", "checkout", AS_OF - timedelta(minutes=30))
    report = _run(loaded, service="checkout", window="1h")
    text = RENDERER.text(report)
    assert "1 deploys in the window" in text and report.current.deployment_frequency.note in text
    assert "/day" not in text.split("Deployment frequency")[1].split("\n")[0]  # no invented rate
