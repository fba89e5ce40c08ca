"""Remediation with approval: the agent may only *suggest*; a human approves; then it runs.

Rules, all enforced here (not in a prompt):
- only tools marked `mutates=True` AND named in TRIOPS_ACTION_ALLOWLIST can be suggested
  or executed; the arguments are validated against the tool's input model when suggested;
- only members of the Slack user group TRIOPS_APPROVER_GROUP may approve or deny (no group
  configured: nobody can approve, the safe default);
- approval is a compare-and-set on the stored request, so an action runs at most once, in the
  same transaction as the per-action rate limit's count (tools/store/actions.py `approve`);
- every suggestion, approval, denial, refusal and execution goes to the audit log;
- the actions of tools/actions (silence, PagerDuty, Opsgenie, GitHub, deploy webhook,
  Kubernetes, MLflow) also check their arguments against the bounds in settings, show a
  dry-run on the card, expire after TRIOPS_ACTION_TTL, run at most TRIOPS_ACTION_RATE_LIMIT
  times an hour, and are verified after TRIOPS_ACTION_VERIFY_DELAY (tools/actions/outcomes.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, Field

from tools import approvals, audit
from tools.actions.base import request_scope
from tools.contract import Tool, ToolContext, ToolRegistry
from tools.errors import ToolError
from tools.result import ToolResult
from tools.settings import Settings
from tools.timeutil import now_utc

log = logging.getLogger("triops.agent.actions")


class Suggestion(BaseModel):
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = None


def _mutating(registry: ToolRegistry) -> dict[str, Tool]:
    """The registry's mutating tools and the shipped actions (tools/actions), by name."""
    from tools.actions.registry import specs

    out: dict[str, Tool] = {t.name: t for t in registry if t.mutates}
    for name, sp in specs().items():
        out.setdefault(name, sp.tool)
    return out


def allowed_actions(registry: ToolRegistry, settings: Settings) -> list[Tool]:
    allow = set(settings.action_allowlist)
    return [t for name, t in _mutating(registry).items() if name in allow]


def bounds_check(settings: Settings, action: str, args: dict[str, Any]) -> None:
    """The action's own bounds from settings (namespaces, durations, replicas…); ToolError."""
    from tools.actions.registry import spec

    sp = spec(action)
    if sp is not None:
        sp.check(settings, sp.tool.parse(args))


def preview(ctx: ToolContext, action: str, args: dict[str, Any]) -> dict[str, str] | None:
    """The dry-run of an action (effect, blast radius), or None for an action without one."""
    from tools.actions.registry import spec

    sp = spec(action)
    if sp is None:
        return None
    try:
        return sp.preview(ctx, sp.tool.parse(args)).model_dump()
    except ToolError as exc:
        return {"effect": f"{action} {json.dumps(args)}", "blast_radius": f"unknown: {exc.message}"}


def validate(registry: ToolRegistry, settings: Settings, s: Suggestion) -> Suggestion:
    """The suggestion with its arguments normalised; ToolError if it may not be suggested."""
    allowed = {t.name: t for t in allowed_actions(registry, settings)}
    if s.action not in allowed:
        raise ToolError(
            f"'{s.action}' is not an action triops may suggest.",
            hint="Allowed: " + (", ".join(sorted(allowed)) or "none (TRIOPS_ACTION_ALLOWLIST is empty)"),
            choices=sorted(allowed),
        )
    try:
        args = allowed[s.action].input_model.model_validate(s.args).model_dump(mode="json")
    except Exception as exc:
        raise ToolError(f"Bad arguments for {s.action}: {exc}") from None
    bounds_check(settings, s.action, args)
    return Suggestion(action=s.action, args=args, reason=s.reason)


def suggestions_in(outputs: list[BaseModel]) -> list[Suggestion]:
    """Suggestions a deterministic tool put in its output (`suggested_actions`), and runbook
    steps whose command is one an action does (tools/actions/commands.py), if any."""
    from tools.actions.commands import action_for_command

    found: list[Suggestion] = []
    for out in outputs:
        data = out.model_dump(mode="json")
        for item in data.get("suggested_actions") or []:
            if isinstance(item, dict) and item.get("action"):
                found.append(Suggestion(action=item["action"], args=item.get("args") or {}, reason=item.get("reason")))
        for step in data.get("steps") or []:
            for cmd in (step.get("commands") or []) if isinstance(step, dict) else []:
                hit = action_for_command(str(cmd))
                if hit is not None and not any(f.action == hit[0] and f.args == hit[1] for f in found):
                    found.append(Suggestion(action=hit[0], args=hit[1],
                                            reason=f"Runbook step {step.get('number', '?')}: `{str(cmd)[:200]}`"))
    return found


def record(store: Any, s: Suggestion, *, key: str | None, by: str, actor: str,
           ctx: ToolContext | None = None) -> approvals.ActionRequest:
    """Store the suggestion (pending); with `ctx`, its dry-run too. The incident it is for is
    kept, so a verified outcome counts as that incident remediated."""
    req = approvals.create(store, action=s.action, args=s.args, reason=s.reason, suggested_by=by, conversation_key=key)
    shown = preview(ctx, s.action, s.args) if ctx is not None else None
    incident = s.args.get("incident_id")
    if shown is not None or incident:
        approvals.save_preview(store, req.id, shown, str(incident) if incident else None)
    audit.record(store, actor, "suggest", s.action, request=req.id, args=s.args, reason=s.reason, by=by)
    return req


class SuggestArgs(BaseModel):
    action: str = Field(description="The name of an allowed action")
    args: dict[str, Any] = Field(default_factory=dict, description="The action's arguments")
    reason: str = Field(description="Why, citing the tool results that support it")


def suggest_tool(registry: ToolRegistry, settings: Settings, sink: list[Suggestion]) -> StructuredTool | None:
    """The agent's only way to propose a change: it records a suggestion; nothing runs."""
    allowed = allowed_actions(registry, settings)
    if not allowed:
        return None
    catalogue = "; ".join(f"{t.name}: {t.description} args {json.dumps(t.input_model.model_json_schema().get('properties', {}))}" for t in allowed)

    def propose(action: str, reason: str, args: dict[str, Any] | None = None) -> str:
        try:
            s = validate(registry, settings, Suggestion(action=action, args=args or {}, reason=reason))
        except ToolError as exc:
            raise ToolException(json.dumps({"status": "error", **exc.info().model_dump()})) from None
        if any(x.action == s.action and x.args == s.args for x in sink):
            raise ToolException(json.dumps({"status": "error", "error": "Already suggested in this answer."}))
        sink.append(s)
        return json.dumps({"status": "suggested", "action": s.action, "args": s.args,
                           "note": "Not executed. It is shown to the humans with Approve/Deny; only an approver can run it."})

    return StructuredTool.from_function(
        func=propose,
        name="suggest_action",
        description="Suggest (never run) a remediation for a human to approve in Slack. Allowed actions: " + catalogue,
        args_schema=SuggestArgs.model_json_schema(),
        handle_tool_error=lambda exc: str(exc),
    )


# --- deciding ------------------------------------------------------------------------------------
class Decision(BaseModel):
    ok: bool
    status: str  # approved→executed | failed | denied | refused | expired | gone
    message: str
    request: approvals.ActionRequest | None = None


IsApprover = Callable[[str], bool]


def decide(
    registry: ToolRegistry,
    ctx: ToolContext,
    settings: Settings,
    rid: str,
    user: str,
    approve: bool,
    is_approver: IsApprover,
    now: float | None = None,
) -> Decision:
    store = ctx.store
    now = now if now is not None else now_utc().timestamp()
    req = approvals.get(store, rid)
    if req is None:
        return Decision(ok=False, status="gone", message="This suggestion no longer exists.")
    if req.status != "pending":
        return Decision(ok=False, status="gone", request=req,
                        message=f"Already {req.status} by <@{req.decided_by}>." if req.decided_by else f"Already {req.status}.")
    if not is_approver(user):
        audit.record(store, user, "approval_refused", req.action, request=rid, reason="not in the approver group")
        return Decision(ok=False, status="refused", request=req,
                        message="Only members of the approver group can approve or deny actions.")
    if now - req.created_at > settings.action_ttl:
        if approvals.transition(store, rid, from_status="pending", to_status="expired", user=user):
            audit.record(store, user, "expire", req.action, request=rid, reason="too old")
        return Decision(ok=False, status="expired", request=approvals.get(store, rid),
                        message=f"This suggestion expired ({settings.action_ttl / 60:g} min without a decision); nothing ran.")
    if not approve:
        if not approvals.transition(store, rid, from_status="pending", to_status="denied", user=user):
            return Decision(ok=False, status="gone", message="Someone else decided first.")
        audit.record(store, user, "deny", req.action, request=rid, args=req.args)
        return Decision(ok=True, status="denied", request=approvals.get(store, rid), message=f"Denied by <@{user}>.")
    allowed = {t.name: t for t in allowed_actions(registry, settings)}
    if req.action not in allowed:  # the allowlist changed since the suggestion
        audit.record(store, user, "approval_refused", req.action, request=rid, reason="not on the allowlist")
        return Decision(ok=False, status="refused", request=req, message=f"`{req.action}` is not on the action allowlist.")
    got = approvals.approve(store, rid, user=user, now=now, fresh_after=now - settings.action_ttl,
                            window_start=now - 3600, limit=settings.action_rate_limit)
    if got == "limited":
        audit.record(store, user, "approval_refused", req.action, request=rid, reason="rate limit")
        return Decision(ok=False, status="refused", request=req,
                        message=f"`{req.action}` already ran {settings.action_rate_limit} time(s) in the last hour "
                                "(TRIOPS_ACTION_RATE_LIMIT); try again later.")
    if got == "expired":  # it aged past the TTL between the check above and the approval
        if approvals.transition(store, rid, from_status="pending", to_status="expired", user=user):
            audit.record(store, user, "expire", req.action, request=rid, reason="too old")
        return Decision(ok=False, status="expired", request=approvals.get(store, rid),
                        message="This suggestion expired; nothing ran.")
    if got != "approved":
        return Decision(ok=False, status="gone", message="Someone else decided first.")
    audit.record(store, user, "approve", req.action, request=rid, args=req.args)
    try:  # the bounds again: settings may have narrowed since the suggestion
        bounds_check(settings, req.action, req.args)
        with request_scope(rid):
            run = allowed[req.action].run(ctx, req.args, actor=user, approved_by=user)
    except ToolError as exc:
        run = ToolResult.failed(req.action, req.args, exc)
    if not run.ok:
        approvals.record_outcome(store, rid, "failed", run.message or "failed", now)
    if run.ok:
        assert run.output is not None
        result, status = run.output.model_dump_json(), "executed"
    else:
        assert run.error is not None
        result, status = run.error.model_dump_json(), "failed"
    approvals.transition(store, rid, from_status="approved", to_status=status, result=result)
    audit.record(store, user, "execute", req.action, request=rid, status=status, result=result[:1000])
    final = approvals.get(store, rid)
    msg = f"Approved by <@{user}> and {status}." + ("" if run.ok or run.error is None else f" {run.error.message}")
    return Decision(ok=status == "executed", status=status, request=final, message=msg)
