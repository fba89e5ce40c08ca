"""Every action end to end through the REAL Bolt app (signed requests, the Slack double): the
agent (LLM double) suggests it → the card shows the exact effect and blast radius → a user
outside the approver group is refused → an approver approves → it runs ONCE against its
backend (a loopback double speaking the backend's documented wire format) → a second click
finds it done → the follow-up check updates the card → the audit has every step. Then the
failure cases of each action through the same buttons: the backend's 4xx, 5xx and timeout
on the card, a denial and an expiry that leave a later approval nothing to run.
(Silence against the real Alertmanager: tests/test_actions_bolt_silence.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.agent.slack import APPROVE, DENY, run_followups
from bot.runtime import Runtime
from tests.agent.conftest import ScriptedChatModel, call, say
from tests.agent.test_slack_agent import (  # noqa: F401
    _click,
    _posted_ts,
    db,
    mention,
    message,
    runtime,
    start,
)
from tests.doubles import github, kubernetes, opsgenie, pagerduty, webhook
from tests.doubles.http import HttpDouble
from tests.doubles.mlflow import MlflowWriteDouble
from tests.slack_harness import SlackHarness
from tools import approvals, audit
from tools.actions import outcomes
from tools.store.actions import action_requests

APPROVER, OUTSIDER = "UAPPROVER", "UOUTSIDER"
OG_ALERT = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
COMMON = {"TRIOPS_APPROVER_GROUP": "S0APPROVERS", "TRIOPS_ACTION_VERIFY_DELAY": "0", "TRIOPS_ACTION_HTTP_TIMEOUT": "0.5",
          "TRIOPS_ACTION_TTL": "600", "TRIOPS_ACTION_RATE_LIMIT": "50", "TRIOPS_ACTION_NAMESPACES": "shop",
          "TRIOPS_ACTION_SERVICES": "checkout", "TRIOPS_ACTION_WORKFLOWS": "acme/shop/rollback.yml",
          "TRIOPS_ACTION_MODELS": "search-ranker"}


@dataclass
class Case:
    action: str
    args: dict[str, Any]
    make: Callable[[], HttpDouble]
    env: Callable[[HttpDouble], dict[str, str]]
    effect: str  # in the card's dry-run
    blast: str  # in the card's blast radius
    wire: Callable[[HttpDouble], None]  # the backend got exactly the documented request
    writes: Callable[[HttpDouble], int]  # how many changing requests the backend got
    backend: str
    secret: str
    errors: dict[int, Any] = field(default_factory=dict)  # status → the backend's error body


def _pd_env(d: HttpDouble) -> dict[str, str]:
    return {"TRIOPS_PAGERDUTY_API_URL": d.url, "TRIOPS_PAGERDUTY_TOKEN": pagerduty.TOKEN, "TRIOPS_PAGERDUTY_FROM": pagerduty.FROM}


def _pd_status(d: HttpDouble) -> None:
    (put,) = d.calls("PUT")
    assert put.path == "/incidents/PT4KHLK" and put.body == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert put.headers["from"] == pagerduty.FROM and put.headers["authorization"] == f"Token token={pagerduty.TOKEN}"
    assert put.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def _pd_note(d: HttpDouble) -> None:
    (post,) = d.calls("POST")
    assert post.path == "/incidents/PT4KHLK/notes" and post.body == {"note": {"content": "Rolled back checkout through triops."}}
    assert post.headers["from"] == pagerduty.FROM


def _og(d: HttpDouble) -> None:
    (post,) = d.calls("POST")
    assert post.path == f"/v2/alerts/{OG_ALERT}/acknowledge" and post.query == {"identifierType": "id"}
    assert post.headers["authorization"] == f"GenieKey {opsgenie.KEY}" and post.body["source"] == "triops"


def _gh(d: HttpDouble) -> None:
    (post,) = d.calls("POST")
    assert post.path == "/repos/acme/shop/actions/workflows/rollback.yml/dispatches"
    assert post.body == {"ref": "main", "inputs": {"service": "checkout", "version": "v41"}}
    assert post.headers["authorization"] == f"Bearer {github.TOKEN}" and post.headers["x-github-api-version"] == "2022-11-28"


def _hook(d: HttpDouble) -> None:
    (post,) = d.calls("POST")
    assert isinstance(d, webhook.DeployWebhookDouble) and d.valid(post) is None  # signed over timestamp + body
    key = post.headers["idempotency-key"]
    assert len(key) == 32 and post.body == {"operation": "rollback", "service": "checkout", "version": "v41",
                                            "incident_id": None, "idempotency_key": key, "source": "triops"}
    assert list(d.deploys) == [key]


def _k8s_env(d: HttpDouble) -> dict[str, str]:
    return {"TRIOPS_KUBERNETES_API_URL": d.url, "TRIOPS_KUBERNETES_TOKEN": kubernetes.TOKEN}


def _restart(d: HttpDouble) -> None:
    (patch,) = d.calls("PATCH")
    assert patch.path == "/apis/apps/v1/namespaces/shop/deployments/checkout"
    assert patch.headers["content-type"].startswith("application/strategic-merge-patch+json")
    assert list(patch.body["spec"]["template"]["metadata"]["annotations"]) == ["kubectl.kubernetes.io/restartedAt"]


def _scale(d: HttpDouble) -> None:
    (patch,) = d.calls("PATCH")
    assert patch.path.endswith("/deployments/checkout/scale") and patch.body == {"spec": {"replicas": 5}}
    assert isinstance(d, kubernetes.KubernetesDouble) and d.deployment["spec"]["replicas"] == 5


def _undo(d: HttpDouble) -> None:
    (patch,) = d.calls("PATCH")
    assert patch.headers["content-type"].startswith("application/json-patch+json")
    assert patch.body[0]["path"] == "/spec/template" and patch.body[0]["value"]["spec"]["containers"][0]["image"] == "checkout:v41"
    assert isinstance(d, kubernetes.KubernetesDouble) and d.deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "checkout:v41"


def _ml(d: HttpDouble) -> None:
    (post,) = d.calls("POST")
    assert post.path == "/api/2.0/mlflow/registered-models/alias"
    assert post.body == {"name": "search-ranker", "alias": "champion", "version": "1"}


def _posts(d: HttpDouble) -> int:
    return len(d.calls("POST"))


def _k8s_writes(d: HttpDouble) -> int:
    return len(d.calls("PATCH"))


K8S_ERR = {403: {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                 "message": 'deployments.apps "checkout" is forbidden: User "system:serviceaccount:ops:triops" cannot patch'},
           503: {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "message": "etcdserver: leader changed"}}
CASES = [
    Case("pagerduty_incident_status", {"incident_id": "PT4KHLK", "status": "acknowledged"}, pagerduty.PagerDutyDouble, _pd_env,
         "Set PagerDuty incident PT4KHLK 'checkout HighErrorRate' (triggered, service checkout) to acknowledged.",
         "this one incident; escalation pauses", _pd_status, lambda d: len(d.calls("PUT")), "PagerDuty", pagerduty.TOKEN,
         {403: {"error": {"message": "Access Denied", "code": 2010}}, 500: {"error": {"message": "Internal Server Error"}}}),
    Case("pagerduty_add_note", {"incident_id": "PT4KHLK", "content": "Rolled back checkout through triops."},
         pagerduty.PagerDutyDouble, _pd_env, "Add a note to PagerDuty incident PT4KHLK", "this one incident's timeline",
         _pd_note, _posts, "PagerDuty", pagerduty.TOKEN,
         {403: {"error": {"message": "Access Denied", "code": 2010}}, 500: {"error": {"message": "Internal Server Error"}}}),
    Case("opsgenie_alert", {"alert_id": OG_ALERT, "op": "acknowledge"}, opsgenie.OpsgenieDouble,
         lambda d: {"TRIOPS_OPSGENIE_API_URL": d.url, "TRIOPS_OPSGENIE_KEY": opsgenie.KEY},
         f"Acknowledge Opsgenie alert {OG_ALERT}", "this one alert; its escalation stops", _og, _posts, "Opsgenie", opsgenie.KEY,
         {403: {"message": "Insufficient access", "took": 0.0, "requestId": "r1"}, 500: {"message": "Internal error", "took": 0.0}}),
    Case("dispatch_workflow", {"repo": "acme/shop", "workflow": "rollback.yml", "inputs": {"service": "checkout", "version": "v41"}},
         github.GitHubDouble, lambda d: {"TRIOPS_GITHUB_API_URL": d.url, "TRIOPS_GITHUB_TOKEN": github.TOKEN},
         "Dispatch workflow rollback.yml of acme/shop at main with service=checkout, version=v41.",
         "whatever rollback.yml deploys for checkout", _gh, _posts, "GitHub", github.TOKEN,
         {403: {"message": "Resource not accessible by integration"}, 502: {"message": "Server Error"}}),
    Case("deploy_webhook", {"service": "checkout", "operation": "rollback", "version": "v41"}, webhook.DeployWebhookDouble,
         lambda d: {"TRIOPS_ACTION_WEBHOOK_URL": d.url + "/deploy", "TRIOPS_ACTION_WEBHOOK_SECRET": webhook.SECRET},
         "Rollback service checkout to version v41 through the deploy webhook at 127.0.0.1", "every instance of checkout",
         _hook, _posts, "Deploy webhook", webhook.SECRET, {409: {"error": "a deploy of checkout is already running"},
                                                          500: {"error": "deployer crashed"}}),
    Case("restart_deployment", {"namespace": "shop", "deployment": "checkout"}, kubernetes.KubernetesDouble, _k8s_env,
         "Rolling restart of deployment shop/checkout (checkout:v42).", "3 pod(s) replaced one by one",
         _restart, _k8s_writes, "Kubernetes", kubernetes.TOKEN, K8S_ERR),
    Case("scale_deployment", {"namespace": "shop", "deployment": "checkout", "replicas": 5}, kubernetes.KubernetesDouble, _k8s_env,
         "Scale deployment shop/checkout from 3 to 5 replica(s).", "2 pod(s) added", _scale, _k8s_writes, "Kubernetes",
         kubernetes.TOKEN, K8S_ERR),
    Case("undo_deployment", {"namespace": "shop", "deployment": "checkout"}, kubernetes.KubernetesDouble, _k8s_env,
         "Roll deployment shop/checkout back from revision 2 (checkout:v42) to revision 1 (checkout:v41).",
         "3 pod(s) replaced one by one", _undo, _k8s_writes, "Kubernetes", kubernetes.TOKEN, K8S_ERR),
    Case("rollback_model_alias", {"model": "search-ranker"}, MlflowWriteDouble, lambda d: {"MLFLOW_TRACKING_URI": d.url},
         "Move search-ranker@champion from v2 to v1.", "models:/search-ranker@champion picks up v1", _ml, _posts, "MLflow",
         "no-secret-configured", {403: {"error_code": "PERMISSION_DENIED", "message": "Permission denied"},
                                  503: {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "Service unavailable"}}),
]


def updates(h: SlackHarness, ts: str) -> list[str]:
    return [c.params["text"] for c in h.double.of("chat.update") if c.params.get("ts") == ts]


def wait_update(h: SlackHarness, ts: str, contains: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in h.double.of("chat.update"):
            if c.params.get("ts") == ts and contains in c.params["text"]:
                return c.params
        time.sleep(0.03)
    raise AssertionError(f"no card update with {contains!r} on {ts}: {updates(h, ts)}")


def wait_ephemeral(h: SlackHarness, user: str, contains: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.params.get("user") == user and contains in c.params.get("text", "") for c in h.double.of("chat.postEphemeral")):
            return
        time.sleep(0.03)
    raise AssertionError(f"no ephemeral {contains!r} to {user}: {[c.params for c in h.double.of('chat.postEphemeral')]}")


class Agent:
    """One conversation with the agent in a thread: each turn, the LLM double suggests one action."""

    def __init__(self, rt: Runtime, h: SlackHarness, root: str) -> None:
        self.rt, self.h, self.root, self.turns = rt, h, root, 0

    def suggest(self) -> tuple[str, str, dict[str, Any]]:
        """(request id, card ts, card) of the next suggestion, posted through the real listeners."""
        with self.rt.store.engine.connect() as conn:
            known = {r[0] for r in conn.execute(action_requests.select().with_only_columns(action_requests.c.id))}
        self.turns += 1
        ts = f"{self.root}{self.turns}"
        self.h.event(mention("what should we do?", ts=self.root) if self.turns == 1
                     else message("and now?", ts=ts, thread_ts=self.root))
        card = self.h.double.wait_for("chat.postMessage", 2 * self.turns)[-1]
        with self.rt.store.engine.connect() as conn:
            (rid,) = {r[0] for r in conn.execute(action_requests.select().with_only_columns(action_requests.c.id))} - known
        return rid, _posted_ts(self.rt, rid), card.params


def converse(db: Path, tmp_path: Path, harnesses: list[SlackHarness], case: Case, d: HttpDouble,  # noqa: F811
             turns: int) -> tuple[Runtime, SlackHarness, Agent]:
    rt = runtime(db, tmp_path, TRIOPS_ACTION_ALLOWLIST=case.action, **COMMON, **case.env(d))
    script = []
    for i in range(turns):
        script += [call("suggest_action", {"action": case.action, "args": case.args, "reason": f"turn {i}: the error rate doubled"}),
                   say("I suggest an action; it needs an approver.")]
    h = start(rt, ScriptedChatModel(script=script))
    harnesses.append(h)
    h.double.responses["usergroups.users.list"] = {"ok": True, "users": [APPROVER]}
    return rt, h, Agent(rt, h, "77.")


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_suggest_preview_approve_once_verify_audit(case: Case, db: Path, tmp_path: Path, harnesses: list[SlackHarness]) -> None:  # noqa: F811
    with case.make() as d:
        rt, h, agent = converse(db, tmp_path, harnesses, case, d, 1)
        rid, ts, card = agent.suggest()
        blocks = str(card["blocks"])
        assert f"*Suggested action:* `{case.action}`" in blocks
        assert f"*Effect (dry-run):* {case.effect}" in blocks and case.blast in blocks.split("*Blast radius:*")[1]
        assert case.writes(d) == 0  # a suggestion and its dry-run change nothing

        _click(h, APPROVE, rid, OUTSIDER, ts)  # not in the approver group
        wait_ephemeral(h, OUTSIDER, "Only members of the approver group")
        assert case.writes(d) == 0 and approvals.get(rt.store, rid).status == "pending"  # type: ignore[union-attr]

        _click(h, APPROVE, rid, APPROVER, ts)
        done = wait_update(h, ts, f"Approved by <@{APPROVER}> and executed.")
        assert "*Result:*" in str(done["blocks"]) and APPROVE not in str(done["blocks"])  # buttons gone
        case.wire(d)
        _click(h, APPROVE, rid, APPROVER, ts)  # a double click
        wait_update(h, ts, "Already executed")
        case.wire(d)  # still exactly one request

        client = WebClient(token="xoxb-test", base_url=h.double.base_url)
        assert run_followups(client, rt.ctx) == 1
        follow = updates(h, ts)[-1]
        assert ":white_check_mark: *Follow-up check:* worked" in follow, follow
        assert outcomes.summary(rt.store)["kinds"][case.action]["worked"] == 1
        assert run_followups(client, rt.ctx) == 0  # checked once

        trail = [e for e in audit.recent(rt.store, 200) if (e.get("detail") or {}).get("request") == rid]
        assert sorted(e["action"] for e in trail) == ["approval_refused", "approve", "execute", "suggest", "verify"]
        assert {e["actor"] for e in trail if e["action"] in ("approve", "execute")} == {APPROVER}
        seen = str(h.double.calls) + str(audit.recent(rt.store, 200))
        assert case.secret not in seen


@pytest.mark.parametrize("case", CASES, ids=[c.action for c in CASES])
def test_backend_failures_denial_and_expiry_on_the_card(case: Case, db: Path, tmp_path: Path, harnesses: list[SlackHarness]) -> None:  # noqa: F811
    with case.make() as d:
        rt, h, agent = converse(db, tmp_path, harnesses, case, d, 5)
        (c4, body4), (c5, body5) = sorted(case.errors.items())
        for fail, expect in [((c4, body4), f"{case.backend} refused: HTTP {c4}"), ((c5, body5), f"{case.backend} refused: HTTP {c5}"),
                             (None, f"{case.backend} did not answer")]:
            rid, ts, _ = agent.suggest()
            if fail is None:
                d.stall = 1.5  # past TRIOPS_ACTION_HTTP_TIMEOUT
            else:
                d.fail_with = fail
            _click(h, APPROVE, rid, APPROVER, ts)
            failed = wait_update(h, ts, f"Approved by <@{APPROVER}> and failed.")
            assert expect in failed["text"] and "Traceback" not in failed["text"], failed["text"]
            d.fail_with, d.stall = None, 0.0
            assert approvals.get(rt.store, rid).status == "failed"  # type: ignore[union-attr]
        assert outcomes.summary(rt.store)["kinds"][case.action]["failed"] == 3
        writes = case.writes(d)

        rid, ts, _ = agent.suggest()  # denied: a later approval finds nothing to run
        _click(h, DENY, rid, APPROVER, ts)
        wait_update(h, ts, f"Denied by <@{APPROVER}>.")
        _click(h, APPROVE, rid, APPROVER, ts)
        wait_update(h, ts, "Already denied")

        rid, ts, _ = agent.suggest()  # stale: older than TRIOPS_ACTION_TTL
        with rt.store.begin() as conn:
            conn.execute(action_requests.update().where(action_requests.c.id == rid)
                         .values(created_at=action_requests.c.created_at - 601))
        _click(h, APPROVE, rid, APPROVER, ts)
        wait_update(h, ts, "This suggestion expired")
        assert case.writes(d) == writes and approvals.get(rt.store, rid).status == "expired"  # type: ignore[union-attr]
        assert case.secret not in str(h.double.calls) + str(audit.recent(rt.store, 300))
