"""Roll back or redeploy through a GitHub Actions workflow: `workflow_dispatch`
(POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches, 204). Only workflows
named in TRIOPS_ACTION_WORKFLOWS; the inputs are short key/value strings, never a command."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from tools.actions.base import (
    ActionIn,
    ActionOut,
    ActionSpec,
    Check,
    Preview,
    allowed,
    call,
    require,
)
from tools.contract import ToolContext, tool
from tools.settings import Settings
from tools.timeutil import now_utc

BACKEND = "GitHub"


class DispatchIn(ActionIn):
    """Run an allowed GitHub Actions workflow (a rollback or redeploy) with inputs."""

    repo: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$", description="owner/name")
    workflow: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}\.ya?ml$", description="The workflow file, e.g. rollback.yml")
    ref: str = Field(default="main", pattern=r"^[A-Za-z0-9_./-]{1,200}$")
    inputs: dict[str, str] = Field(default_factory=dict, max_length=10)
    incident_id: str | None = Field(default=None, max_length=64)

    @field_validator("inputs")
    @classmethod
    def _plain(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not k.replace("_", "").replace("-", "").isalnum() or len(k) > 64:
                raise ValueError(f"input name {k!r} must be letters, digits, - or _")
            if len(val) > 200 or any(c in val for c in "\n\r`$;|&"):
                raise ValueError(f"input {k!r} must be a short plain value")
        return v


def _headers(settings: Settings) -> dict[str, str]:
    token = require(settings.github_token, "TRIOPS_GITHUB_TOKEN")
    return {"Authorization": f"Bearer {token.get_secret_value()}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28"}


def check(settings: Settings, args: DispatchIn) -> None:
    _headers(settings)
    allowed(f"{args.repo}/{args.workflow}", Settings.csv(settings.action_workflows_csv), "Workflow",
            "TRIOPS_ACTION_WORKFLOWS")


def _base(settings: Settings, args: DispatchIn) -> str:
    return f"{settings.github_api_url.rstrip('/')}/repos/{args.repo}/actions/workflows/{args.workflow}"


def preview(ctx: ToolContext, args: DispatchIn) -> Preview:
    inputs = ", ".join(f"{k}={v}" for k, v in sorted(args.inputs.items())) or "no inputs"
    return Preview(effect=f"Dispatch workflow {args.workflow} of {args.repo} at {args.ref} with {inputs}.",
                   blast_radius=f"whatever {args.workflow} deploys" + (f" for {args.inputs['service']}" if "service" in args.inputs else ""))


@tool("dispatch_workflow", "Roll back or redeploy by running an allowed GitHub Actions workflow.", mutates=True)
def dispatch_workflow(ctx: ToolContext, args: DispatchIn) -> ActionOut:
    check(ctx.settings, args)
    at = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    call(ctx, "POST", f"{_base(ctx.settings, args)}/dispatches", headers=_headers(ctx.settings),
         json={"ref": args.ref, "inputs": args.inputs}, ok=(204,), backend=BACKEND)
    return ActionOut(summary=f"Workflow {args.workflow} dispatched on {args.repo}@{args.ref}.", ref=at,
                     details={"dispatched_at": at})


def verify(ctx: ToolContext, args: DispatchIn, result: dict[str, Any]) -> Check:
    since = result.get("ref") or ""
    got = call(ctx, "GET", f"{_base(ctx.settings, args)}/runs", headers=_headers(ctx.settings),
               params={"event": "workflow_dispatch", "created": f">={since}"}, ok=(200,), backend=BACKEND)
    runs = [r for r in (got or {}).get("workflow_runs", []) if str(r.get("created_at", "")) >= since]
    if not runs:
        return Check(outcome="no_effect", detail="no run of the workflow started")
    run = runs[0]
    if run.get("conclusion") == "success":
        return Check(outcome="worked", detail=f"run {run.get('id')} succeeded")
    if run.get("status") != "completed":
        return Check(outcome="no_effect", detail=f"run {run.get('id')} is still {run.get('status')}")
    return Check(outcome="failed", detail=f"run {run.get('id')} ended {run.get('conclusion')}")


SPECS = [ActionSpec(tool=dispatch_workflow, check=check, preview=preview, verify=verify, fixes=True)]
