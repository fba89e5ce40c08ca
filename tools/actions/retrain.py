"""Retrain a model: dispatch its retraining pipeline with the model, the version it replaces,
the reason and the evidence, and track the run (requested → started → succeeded / failed,
the new version, promoted or not) from the pipeline's callback and the registry.

Pipelines (TRIOPS_RETRAIN_PIPELINE), each with its documented wire format:
- github: GitHub Actions `workflow_dispatch`, POST /repos/{owner}/{repo}/actions/workflows/
  {file}/dispatches {"ref", "inputs"} -> 204 (inputs are strings). Not asked for:
  `return_run_details` (github.com then answers 200 with the run's id, since 2026-02; GHES
  3.20 and older refuse the unknown field): the callback's `external_ref` carries the run id;
- airflow: Airflow 2 stable REST API, POST /api/v1/dags/{dag_id}/dagRuns {"dag_run_id",
  "conf"} -> 200 with the DAGRun (basic auth or a bearer token);
- webhook: POST the JSON to TRIOPS_RETRAIN_WEBHOOK_URL, signed: X-Triops-Timestamp and
  X-Triops-Signature = "sha256=" + HMAC-SHA256(secret, f"{timestamp}.{body}").
The pipeline reports back on POST /hooks/models/{model}/retrains/{run_id} (bot/hooks/mlops.py),
signed the same way when TRIOPS_RETRAIN_WEBHOOK_SECRET is set (whatever the pipeline).
Only models in TRIOPS_ACTION_MODELS; the values are plain text, never a command.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from typing import Any

from pydantic import Field, field_validator

from tools.actions.base import (
    REQUEST_ID,
    ActionIn,
    ActionOut,
    ActionSpec,
    Check,
    Preview,
    allowed,
    call,
    require,
    sign,
)
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.settings import Settings
from tools.timeutil import now_utc

# What a reason or evidence may not hold: it is passed on as plain text, never as a command
# (tools/mlops/status.py blanks these out of the reason it offers).
NOT_PLAIN = re.compile(r"[\x00-\x08\x0b-\x1f`$|&<>]")


class RetrainIn(ActionIn):
    """Start the retraining pipeline of a model."""

    model: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the version to replace")
    reason: str = Field(min_length=1, max_length=500, description="why, e.g. the estimated accuracy drop")
    evidence: str = Field(default="", max_length=2000, description="the figures behind the reason")

    @field_validator("reason", "evidence")
    @classmethod
    def _plain(cls, v: str) -> str:
        if NOT_PLAIN.search(v):
            raise ValueError("must be plain text (no control characters, backticks, $, |, &, < or >)")
        return v


def _pipeline(settings: Settings) -> str:
    return str(require(settings.retrain_pipeline, "TRIOPS_RETRAIN_PIPELINE"))


def _workflow(settings: Settings) -> tuple[str, str]:
    text = str(require(settings.retrain_workflow, "TRIOPS_RETRAIN_WORKFLOW"))
    m = re.fullmatch(r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+\.ya?ml)", text)
    if m is None:
        raise ToolError("TRIOPS_RETRAIN_WORKFLOW must be owner/repo/workflow.yml.")
    return m.group(1), m.group(2)


def check(settings: Settings, args: RetrainIn) -> None:
    pipeline = _pipeline(settings)
    allowed(args.model, Settings.csv(settings.action_models_csv), "Model", "TRIOPS_ACTION_MODELS")
    if pipeline == "github":
        _workflow(settings)
        require(settings.github_token, "TRIOPS_GITHUB_TOKEN")
    elif pipeline == "airflow":
        require(settings.airflow_url, "TRIOPS_AIRFLOW_URL")
        require(settings.airflow_dag, "TRIOPS_AIRFLOW_DAG")
    else:
        require(settings.retrain_webhook_url, "TRIOPS_RETRAIN_WEBHOOK_URL")
        require(settings.retrain_webhook_secret, "TRIOPS_RETRAIN_WEBHOOK_SECRET")


def _where(settings: Settings) -> str:
    pipeline = _pipeline(settings)
    if pipeline == "github":
        repo, file = _workflow(settings)
        return f"GitHub Actions workflow {file} of {repo}"
    if pipeline == "airflow":
        return f"Airflow DAG {settings.airflow_dag}"
    return "the retraining webhook"


def preview(ctx: ToolContext, args: RetrainIn) -> Preview:
    return Preview(
        effect=f"Start {_where(ctx.settings)} to retrain {args.model}"
               + (f" (replacing v{args.version})" if args.version else "") + f": {args.reason}",
        blast_radius="one training run; serving changes only when a new version is registered and promoted",
    )


def payload(run_id: str, args: RetrainIn) -> dict[str, str]:
    return {"model": args.model, "version": args.version or "", "reason": args.reason,
            "evidence": args.evidence, "triops_run_id": run_id}


def _dispatch(ctx: ToolContext, run_id: str, args: RetrainIn) -> str | None:
    """Start the run; the pipeline's own reference for it, when it gives one."""
    s = ctx.settings
    data = payload(run_id, args)
    pipeline = _pipeline(s)
    if pipeline == "github":
        repo, file = _workflow(s)
        token = require(s.github_token, "TRIOPS_GITHUB_TOKEN").get_secret_value()
        call(ctx, "POST", f"{s.github_api_url.rstrip('/')}/repos/{repo}/actions/workflows/{file}/dispatches",
             headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                      "X-GitHub-Api-Version": "2022-11-28"},
             json={"ref": s.retrain_ref, "inputs": data}, ok=(204,), backend="GitHub")
        return None
    if pipeline == "airflow":
        headers = {}
        if s.airflow_token is not None:
            headers["Authorization"] = f"Bearer {s.airflow_token.get_secret_value()}"
        elif s.airflow_user and s.airflow_password is not None:
            import base64

            pair = f"{s.airflow_user}:{s.airflow_password.get_secret_value()}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        got = call(ctx, "POST", f"{str(s.airflow_url).rstrip('/')}/api/v1/dags/{s.airflow_dag}/dagRuns",
                   headers=headers, json={"dag_run_id": run_id, "conf": data, "note": args.reason[:200]},
                   ok=(200,), backend="Airflow")
        return str((got or {}).get("dag_run_id") or run_id)
    return _webhook(ctx, run_id, data)


def _webhook(ctx: ToolContext, run_id: str, data: dict[str, str]) -> str | None:
    """POST the exact signed bytes; the run id is the Idempotency-Key (as the deploy webhook's)."""
    s = ctx.settings
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    ts = str(int(now_utc().timestamp()))
    secret = require(s.retrain_webhook_secret, "TRIOPS_RETRAIN_WEBHOOK_SECRET").get_secret_value()
    got = call(ctx, "POST", str(s.retrain_webhook_url), content=body, backend="The retraining webhook",
               headers={"Content-Type": "application/json", "X-Triops-Timestamp": ts,
                        "X-Triops-Signature": sign(secret, ts, body), "Idempotency-Key": run_id})
    if not isinstance(got, dict):
        return None
    return str(got.get("id") or "") or None


@tool("retrain_model", "Retrain a model: start its retraining pipeline (GitHub Actions, Airflow or a "
      "signed webhook) with the model, version, reason and evidence; the run is tracked.", mutates=True)
def retrain_model(ctx: ToolContext, args: RetrainIn) -> ActionOut:
    from tools.store.models import (
        claim_retrain_run,
        drop_retrain_run,
        retrain_runs_of,
        set_retrain_ref,
    )

    check(ctx.settings, args)
    run_id = run_id_for(REQUEST_ID.get())
    pipeline = _pipeline(ctx.settings)
    with ctx.store.engine.begin() as conn:  # recorded first: a second executor of this request stops here
        fresh = claim_retrain_run(conn, {
            "id": run_id, "model": args.model, "version": args.version, "pipeline": pipeline, "reason": args.reason,
            "requested_by": None, "status": "requested", "requested_at": ctx.now().timestamp()})  # approver: audit log
        existing = None if fresh else next((r for r in retrain_runs_of(conn, args.model) if r["id"] == run_id), None)
    if not fresh:
        ref = existing["external_ref"] if existing else None
        return ActionOut(summary=f"Retraining of {args.model} was already requested for this approval (run {run_id}); "
                                 "nothing dispatched again.", ref=run_id, details={"pipeline": pipeline, "external_ref": ref})
    try:
        ref = _dispatch(ctx, run_id, args)
    except ToolError:
        with ctx.store.engine.begin() as conn:
            drop_retrain_run(conn, run_id)
        raise
    with ctx.store.engine.begin() as conn:
        set_retrain_ref(conn, run_id, ref)
    return ActionOut(summary=f"Retraining of {args.model} requested from {_where(ctx.settings)} (run {run_id}).",
                     ref=run_id, details={"pipeline": pipeline, "external_ref": ref})


def run_id_for(request_id: str | None) -> str:
    """The run's id, derived from the approved request, so running that request again finds
    its run instead of starting a second one (Airflow's dag_run_id, the webhook's key)."""
    if request_id is None:  # a call outside an approval: nothing to be idempotent with
        return f"triops-retrain-{uuid.uuid4().hex[:16]}"
    return f"triops-retrain-{hashlib.sha256(request_id.encode()).hexdigest()[:16]}"


def verify(ctx: ToolContext, args: RetrainIn, result: dict[str, Any]) -> Check:
    """What the pipeline reported back (its callback), else that it has not yet."""
    from tools.store.models import retrain_runs_of

    with ctx.store.engine.connect() as conn:
        run = next((r for r in retrain_runs_of(conn, args.model) if r["id"] == result.get("ref")), None)
    if run is None:
        return Check(outcome="failed", detail="the run was not recorded")
    if run["status"] == "succeeded":
        return Check(outcome="worked", detail=f"run {run['id']} finished" + (f": v{run['new_version']}" if run["new_version"] else ""))
    if run["status"] == "failed":
        return Check(outcome="failed", detail=f"run {run['id']} failed" + (f": {run['detail']}" if run["detail"] else ""))
    return Check(outcome="no_effect", detail=f"run {run['id']} is {run['status']}")


SPECS = [ActionSpec(tool=retrain_model, check=check, preview=preview, verify=verify)]
