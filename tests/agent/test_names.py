"""The names the planner recognises come from tools.names, and new data is seen without a restart."""

from __future__ import annotations

from datetime import timedelta

from bot.agent import eval_world
from bot.agent.planner import Planner
from tools.contract import ToolContext, ToolRegistry
from tools.delivery.models import DeploymentEvent
from tools.names import known_names
from tools.seed import record_delivery


def test_names_from_catalog_deployments_alerts_and_models(ctx: ToolContext) -> None:
    names = known_names(ctx)
    assert names.services == ["checkout", "payments", "ranking-api", "search"]
    assert names.teams == ["team-payments", "team-search", "team-shop"]
    assert names.models == ["fraud-scorer", "search-ranker"]
    assert names.alerts == ["HighErrorRate", "HighLatency", "KubePodCrashLooping", "NodeFilesystemSpaceFillingUp"]
    assert names.model_services == {"payments": "fraud-scorer", "ranking-api": "search-ranker"}


def test_a_service_that_only_deploys_is_known_and_the_planner_sees_it_after_max_age(
    ctx: ToolContext, registry: ToolRegistry
) -> None:
    planner = Planner(registry, ctx)
    assert "billing" not in planner.vocabulary().services
    finished = eval_world.NOW - timedelta(days=1)
    record_delivery(ctx.store, [DeploymentEvent(
        id="billing-1", service="billing", team="team-money", environment="production",
        started_at=finished - timedelta(minutes=5), finished_at=finished, status="success",
    )])
    assert "billing" in known_names(ctx).services and "team-money" in known_names(ctx).teams
    assert "billing" not in planner.vocabulary().services  # read again after a minute, not per question
    assert "billing" in planner.vocabulary(max_age=0).services
    ans = planner.answer("how did billing ship in the last 30 days?")
    assert ans.calls[0].args == {"service": "billing", "window": "30d"}
    assert ans.calls[0].output.current.deployment_frequency.deployments == 1
