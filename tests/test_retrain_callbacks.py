"""The retraining loop end to end for GitHub Actions and Airflow, through the real Bolt app and
the real web app: `/triops model` says retrain → its Retrain… button posts an Approve card →
an approver approves → triops dispatches the pipeline (loopback doubles of GitHub's REST API,
`workflow_dispatch` → 204, and of Airflow 2's stable REST API, `dagRuns` → the DAGRun) → the
pipeline calls back signed exactly as README shows (openssl for the GitHub step, hmac for the
Airflow task): started, then succeeded with the new version → the run moves, the card's
follow-up check says it worked and `/triops model` shows retraining frequency and success
rate. A callback unsigned, badly signed, stale or with its body changed after signing is a
401 and changes nothing; an unknown run is a 404; a run never moves backwards."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.agent.slack import APPROVE, agent_extension, run_followups
from bot.render.mlops import RETRAIN
from bot.runtime import Runtime
from bot.slack.mlops import register_model_actions
from tests.doubles import airflow, github
from tests.doubles.http import HttpDouble
from tests.slack_harness import SlackHarness
from tools import approvals
from tools.mlops.schemas import ModelIn
from tools.settings import Settings
from tools.store import Store
from tools.store import models as reg
from tools.store.actions import action_requests
from tools.timeutil import now_utc

SECRET = "whsec-retrain-SECRET"
APPROVER, OUTSIDER = "UAPPROVER", "UOUTSIDER"
MODEL = "search-ranker"
README = Path(__file__).resolve().parent.parent / "README.md"


def _github(d: HttpDouble) -> dict[str, str]:
    assert isinstance(d, github.GitHubDouble)
    d.workflows[("acme/ml", "retrain.yml")] = {"model", "version", "reason", "evidence", "triops_run_id"}
    return {"TRIOPS_RETRAIN_PIPELINE": "github", "TRIOPS_RETRAIN_WORKFLOW": "acme/ml/retrain.yml",
            "TRIOPS_GITHUB_API_URL": d.url, "TRIOPS_GITHUB_TOKEN": github.TOKEN}


def _airflow(d: HttpDouble) -> dict[str, str]:
    return {"TRIOPS_RETRAIN_PIPELINE": "airflow", "TRIOPS_AIRFLOW_URL": d.url, "TRIOPS_AIRFLOW_DAG": "retrain_search_ranker",
            "TRIOPS_AIRFLOW_USER": airflow.USER, "TRIOPS_AIRFLOW_PASSWORD": airflow.PASSWORD}


def _dispatched(d: HttpDouble) -> dict[str, Any]:
    """The run's inputs as the pipeline received them, after checking the request's wire format."""
    (post,) = d.calls("POST")
    if isinstance(d, github.GitHubDouble):
        assert post.path == "/repos/acme/ml/actions/workflows/retrain.yml/dispatches"
        assert post.headers["authorization"] == f"Bearer {github.TOKEN}" and post.headers["x-github-api-version"] == "2022-11-28"
        assert post.body["ref"] == "main" and set(post.body) == {"ref", "inputs"}
        assert all(isinstance(v, str) for v in post.body["inputs"].values())  # workflow inputs are strings
        (run,) = d.runs
        assert run["event"] == "workflow_dispatch"
        return dict(post.body["inputs"])
    assert isinstance(d, airflow.AirflowDouble)
    assert post.path == "/api/v1/dags/retrain_search_ranker/dagRuns"
    (dag_run,) = d.runs.values()
    assert dag_run["state"] == "queued" and dag_run["dag_run_id"] == dag_run["conf"]["triops_run_id"]
    return dict(dag_run["conf"])


def _readme_signing() -> str:
    """The two lines of README's callback example that make the timestamp and the signature."""
    text = README.read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith(("ts=", "sig="))]
    assert len(lines) == 2 and "openssl dgst -sha256 -hmac" in lines[1], lines
    return "\n".join(lines)


def shell_signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Headers of a GitHub workflow step's callback, signed by README's own shell lines."""
    script = _readme_signing() + '\nprintf "%s %s" "$ts" "$sig"'
    out = subprocess.run(["bash", "-c", script], env={"PATH": "/usr/bin:/bin", "body": body.decode(),
                                                      "TRIOPS_RETRAIN_WEBHOOK_SECRET": secret},
                         capture_output=True, text=True, check=True).stdout.split()
    ts, sig = out
    return {"Content-Type": "application/json", "X-Triops-Timestamp": ts, "X-Triops-Signature": f"sha256={sig}"}


def python_signed(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    """Headers of an Airflow task's callback (hmac in Python, as README describes)."""
    stamp = str(ts if ts is not None else int(time.time()))
    sig = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Triops-Timestamp": stamp, "X-Triops-Signature": f"sha256={sig}"}


PIPELINES = [pytest.param(github.GitHubDouble, _github, shell_signed, id="github"),
             pytest.param(airflow.AirflowDouble, _airflow, python_signed, id="airflow")]



def _runtime(store: Store, tmp_path: Path, env: dict[str, str]) -> Runtime:
    settings = Settings(_env_file=None, home=tmp_path, database_url=None, TRIOPS_ACTION_ALLOWLIST="retrain_model",
                        TRIOPS_ACTION_MODELS=MODEL, TRIOPS_APPROVER_GROUP="S0APPROVERS", TRIOPS_ACTION_VERIFY_DELAY="0",
                        TRIOPS_ACTION_HTTP_TIMEOUT="2", TRIOPS_RETRAIN_WEBHOOK_SECRET=SECRET, **env)
    rt = Runtime.build(settings, store=store)
    trained = now_utc() - timedelta(days=200)  # stale: model_status recommends a retrain
    with store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(name=MODEL, service="ranking", versions=[
            {"version": "2", "trained_at": trained - timedelta(days=30), "training_data": "s3://d/2", "run_id": "r2"},
            {"version": "3", "trained_at": trained, "aliases": ["champion"], "training_data": "s3://d/3", "run_id": "r3"}])],
            trained.timestamp())
    return rt


def _model(h: SlackHarness) -> dict[str, Any]:
    """`/triops model search-ranker`, answered on the command's response_url."""
    resp, name = h.command(f"model {MODEL}", channel="CML")
    assert resp.status_code == 200
    return h.response(name)


def _retrain_button(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in answer.get("blocks") or [] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == RETRAIN]


def _click(h: SlackHarness, action_id: str, value: str, user: str, ts: str) -> None:
    assert h.action({"type": "block_actions", "user": {"id": user}, "team": {"id": "T1"}, "api_app_id": "A1",
                     "channel": {"id": "CML"}, "container": {"type": "message", "message_ts": ts, "channel_id": "CML"},
                     "message": {"ts": ts, "text": "x"}, "trigger_id": "1.2",
                     "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b",
                                  "action_ts": "1"}]}).status_code == 200


def _wait(pred: Any, what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.03)
    raise AssertionError(f"never happened: {what}")


def _card_text(h: SlackHarness, ts: str, contains: str) -> str:
    def found() -> str | None:
        return next((c.params["text"] for c in h.double.of("chat.update")
                     if c.params.get("ts") == ts and contains in c.params["text"]), None)
    return str(_wait(found, f"card {ts} says {contains!r}"))


def _run(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        (run,) = reg.retrain_runs_of(conn, MODEL)
    return run


def _post(h: SlackHarness, run_id: str, body: dict[str, Any], headers: dict[str, str] | None, model: str = MODEL) -> Any:
    raw = json.dumps(body, separators=(",", ":")).encode()
    return h.http.post(f"/hooks/models/{model}/retrains/{run_id}", content=raw,
                       headers=headers if headers is not None else {"Content-Type": "application/json"})


@pytest.mark.parametrize(("make", "env", "signed"), PIPELINES)
def test_retrain_approved_dispatched_and_moved_by_the_signed_callback(
        make: Any, env: Any, signed: Any, store: Store, tmp_path: Path, harnesses: list[SlackHarness]) -> None:
    with make() as d:
        rt = _runtime(store, tmp_path, env(d))
        h = SlackHarness.start(rt, extensions=[agent_extension, register_model_actions])
        harnesses.append(h)
        h.double.responses["usergroups.users.list"] = {"ok": True, "users": [APPROVER]}

        # /triops model: retrain, with the button; nothing has run yet
        answer = _model(h)
        assert "RETRAIN" in answer["text"] and "trained 200 days ago" in answer["text"]
        (button,) = _retrain_button(answer)
        assert button["value"] == MODEL and not d.requests

        # the button posts the Approve card (a suggestion: still nothing dispatched)
        h.action({"type": "block_actions", "user": {"id": OUTSIDER}, "team": {"id": "T1"}, "api_app_id": "A1",
                  "channel": {"id": "CML"}, "container": {"type": "message", "message_ts": "5.5", "channel_id": "CML"},
                  "message": {"ts": "5.5", "text": "status"}, "trigger_id": "1.2",
                  "actions": [{"action_id": RETRAIN, "value": MODEL, "type": "button", "block_id": "b", "action_ts": "1"}]})
        (card,) = h.double.wait_for("chat.postMessage")
        assert card.params["thread_ts"] == "5.5" and "retrain_model" in card.params["text"]
        with rt.store.engine.connect() as conn:
            (rid,) = [r[0] for r in conn.execute(action_requests.select().with_only_columns(action_requests.c.id))]
        ts = str(_wait(lambda: getattr(approvals.get(rt.store, rid), "message_ts", None), "the card is recorded as posted"))
        assert not d.requests

        _click(h, APPROVE, rid, OUTSIDER, ts)  # not an approver: refused, nothing dispatched
        _wait(lambda: any(c.params.get("user") == OUTSIDER for c in h.double.of("chat.postEphemeral")), "the refusal")
        assert not d.requests and approvals.get(rt.store, rid).status == "pending"  # type: ignore[union-attr]

        _click(h, APPROVE, rid, APPROVER, ts)
        _card_text(h, ts, f"Approved by <@{APPROVER}> and executed.")
        inputs = _dispatched(d)
        run = _run(rt.store)
        assert inputs == {"model": MODEL, "version": "3", "reason": inputs["reason"], "evidence": inputs["evidence"],
                          "triops_run_id": run["id"]}
        assert inputs["reason"].startswith("trained 200 days ago")
        assert run["status"] == "requested" and run["pipeline"] == rt.settings.retrain_pipeline
        run_id = run["id"]

        # an open run: no second button; the frequency counts it already
        answer = _model(h)
        assert not _retrain_button(answer) and "1 retrain in 90 days" in json.dumps(answer["blocks"], ensure_ascii=False)

        # callbacks that must not count: unsigned, wrong secret, stale, body changed after signing
        started = {"status": "started", "external_ref": "gh-run-1000"}
        raw = json.dumps(started, separators=(",", ":")).encode()
        assert _post(h, run_id, started, None).status_code == 401
        assert _post(h, run_id, started, {**python_signed(raw, "not-the-secret")}).status_code == 401
        assert _post(h, run_id, started, python_signed(raw, ts=int(time.time()) - 600)).status_code == 401
        forged = {**started, "status": "succeeded", "new_version": "9"}
        assert _post(h, run_id, forged, signed(raw)).status_code == 401
        assert _run(rt.store)["status"] == "requested"

        # an unknown run (or the run under another model), even signed: 404, and the run is untouched
        assert _post(h, "triops-retrain-0000000000000000", started, signed(raw)).status_code == 404
        assert _post(h, run_id, started, signed(raw), model="fraud").status_code == 404  # another model's name
        assert _run(rt.store)["status"] == "requested"

        # the pipeline reports: started, then succeeded with the new version
        ok = _post(h, run_id, started, signed(raw))
        assert ok.status_code == 202 and ok.json() == {"run": run_id, "status": "started", "new_version": None}
        assert _run(rt.store)["status"] == "started" and _run(rt.store)["external_ref"] == "gh-run-1000"
        done = {"status": "succeeded", "new_version": "4", "detail": "val auc 0.93"}
        raw_done = json.dumps(done, separators=(",", ":")).encode()
        ok = _post(h, run_id, done, signed(raw_done))
        assert ok.status_code == 202 and ok.json() == {"run": run_id, "status": "succeeded", "new_version": "4"}

        # never backwards: a late "started" or a "failed" after success changes nothing
        for late in ({"status": "started"}, {"status": "failed", "detail": "retry died"}):
            raw_late = json.dumps(late, separators=(",", ":")).encode()
            assert _post(h, run_id, late, signed(raw_late)).json()["status"] == "succeeded"
        final = _run(rt.store)
        assert (final["status"], final["new_version"], final["detail"]) == ("succeeded", "4", "val auc 0.93")
        assert final["started_at"] is not None and final["finished_at"] >= final["started_at"]

        # the card's follow-up check reads the run: it worked, with the new version
        client = WebClient(token="xoxb-test", base_url=h.double.base_url)
        assert run_followups(client, rt.ctx) == 1
        follow = _card_text(h, ts, "Follow-up check:")
        assert ":white_check_mark: *Follow-up check:* worked" in follow and "v4" in follow, follow

        # /triops model: frequency and success rate of retraining
        blocks = json.dumps(_model(h)["blocks"], ensure_ascii=False)
        assert "1 retrain in 90 days" in blocks
        assert "1 of 1 finished runs succeeded (100%)" in blocks and "last run succeeded → v4" in blocks
        assert len(d.calls("POST")) == 1  # one approval, one dispatch
        seen = str(h.double.calls)
        assert github.TOKEN not in seen and airflow.PASSWORD not in seen and SECRET not in seen


def test_readme_signing_matches_what_triops_verifies() -> None:
    """README's shell lines give the signature triops's own signer gives (sha256= HMAC over
    "timestamp.body"), for a body with quotes and spaces."""
    from tools.actions.base import sign

    body = json.dumps({"status": "failed", "detail": "OOM at epoch 3; see run 42"}).encode()
    headers = shell_signed(body)
    assert re.fullmatch(r"[0-9]{10}", headers["X-Triops-Timestamp"])
    assert headers["X-Triops-Signature"] == sign(SECRET, headers["X-Triops-Timestamp"], body)
