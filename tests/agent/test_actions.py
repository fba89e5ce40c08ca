"""Approval rules for suggested actions, without Slack: allowlist, approvers, once only, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.agent import actions
from bot.agent.actions import Suggestion
from bot.capabilities import capabilities
from tests.agent.conftest import make_settings
from tools import approvals, audit
from tools.contract import ToolContext, ToolRegistry, tool
from tools.errors import ToolError

RUNS: list[str] = []


class RollbackIn(BaseModel):
    deployment_id: str


class RollbackOut(BaseModel):
    rolled_back: str


@tool("rollback_deployment", "Roll back a deployment.", mutates=True)
def rollback_deployment(ctx: ToolContext, args: RollbackIn) -> RollbackOut:
    if args.deployment_id == "missing":
        raise ToolError("No deployment 'missing'.")
    RUNS.append(args.deployment_id)
    return RollbackOut(rolled_back=args.deployment_id)


@pytest.fixture
def setup(ctx: ToolContext, tmp_path: Path) -> tuple[ToolRegistry, ToolContext]:
    RUNS.clear()
    ctx.settings = make_settings(tmp_path, TRIOPS_ACTION_ALLOWLIST="rollback_deployment, dora_metrics", TRIOPS_APPROVER_GROUP="S1")
    return ToolRegistry([*list(capabilities().registry()), rollback_deployment]), ctx


def approvers(*users: str):  # type: ignore[no-untyped-def]
    return lambda user: user in users


def _request(reg: ToolRegistry, ctx: ToolContext, dep: str = "checkout-d3") -> str:
    s = actions.validate(reg, ctx.settings, Suggestion(action="rollback_deployment", args={"deployment_id": dep}, reason="r"))
    return actions.record(ctx.store, s, key="k", by="agent", actor="U1").id


def test_only_allowlisted_mutating_tools_can_be_suggested(setup: tuple[ToolRegistry, ToolContext]) -> None:
    reg, ctx = setup
    assert [t.name for t in actions.allowed_actions(reg, ctx.settings)] == ["rollback_deployment"]  # dora_metrics does not mutate
    with pytest.raises(ToolError, match="not an action triops may suggest"):
        actions.validate(reg, ctx.settings, Suggestion(action="dora_metrics", args={}))
    with pytest.raises(ToolError, match="Bad arguments"):
        actions.validate(reg, ctx.settings, Suggestion(action="rollback_deployment", args={"id": 1}))


def test_approve_runs_once_and_is_audited(setup: tuple[ToolRegistry, ToolContext]) -> None:
    reg, ctx = setup
    rid = _request(reg, ctx)
    d = actions.decide(reg, ctx, ctx.settings, rid, "UA", True, approvers("UA"))
    assert d.ok and d.status == "executed" and RUNS == ["checkout-d3"]
    req = approvals.get(ctx.store, rid)
    assert req.status == "executed" and req.decided_by == "UA" and req.decided_at and '"rolled_back":"checkout-d3"' in req.result
    again = actions.decide(reg, ctx, ctx.settings, rid, "UA", True, approvers("UA"))
    assert not again.ok and "Already executed" in again.message and RUNS == ["checkout-d3"]
    trail = [(e["action"], e["actor"]) for e in reversed(audit.recent(ctx.store, 20)) if e["subject"] == "rollback_deployment"]
    assert trail == [("suggest", "U1"), ("approve", "UA"), ("execute", "UA")]


def test_non_approver_is_refused_and_audited(setup: tuple[ToolRegistry, ToolContext]) -> None:
    reg, ctx = setup
    rid = _request(reg, ctx)
    d = actions.decide(reg, ctx, ctx.settings, rid, "UX", True, approvers("UA"))
    assert d.status == "refused" and RUNS == [] and approvals.get(ctx.store, rid).status == "pending"
    assert audit.recent(ctx.store, 1)[0]["action"] == "approval_refused"


def test_deny(setup: tuple[ToolRegistry, ToolContext]) -> None:
    reg, ctx = setup
    rid = _request(reg, ctx)
    d = actions.decide(reg, ctx, ctx.settings, rid, "UA", False, approvers("UA"))
    assert d.status == "denied" and RUNS == []
    assert actions.decide(reg, ctx, ctx.settings, rid, "UA", True, approvers("UA")).status == "gone"
    assert RUNS == []


def test_allowlist_is_checked_again_at_approval(setup: tuple[ToolRegistry, ToolContext], tmp_path: Path) -> None:
    reg, ctx = setup
    rid = _request(reg, ctx)
    ctx.settings = make_settings(tmp_path, TRIOPS_APPROVER_GROUP="S1")  # allowlist emptied since
    d = actions.decide(reg, ctx, ctx.settings, rid, "UA", True, approvers("UA"))
    assert d.status == "refused" and "allowlist" in d.message and RUNS == []


def test_failed_action_is_recorded(setup: tuple[ToolRegistry, ToolContext]) -> None:
    reg, ctx = setup
    rid = _request(reg, ctx, dep="missing")
    d = actions.decide(reg, ctx, ctx.settings, rid, "UA", True, approvers("UA"))
    assert not d.ok and d.status == "failed" and "No deployment 'missing'" in d.message
    assert approvals.get(ctx.store, rid).status == "failed"


def test_tool_output_suggestions_are_collected() -> None:
    class Out(BaseModel):
        suggested_actions: list[dict]

    found = actions.suggestions_in([Out(suggested_actions=[{"action": "rollback_deployment", "args": {"deployment_id": "x"}, "reason": "suspect"}])])
    assert found == [Suggestion(action="rollback_deployment", args={"deployment_id": "x"}, reason="suspect")]
