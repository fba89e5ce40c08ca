"""Rollback / redeploy actions behind approval: GitHub workflow_dispatch, Kubernetes restart /
scale / undo (the official client against an API double), MLflow alias rollback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent import actions
from bot.agent.actions import Suggestion
from tests.doubles.github import TOKEN as GH_TOKEN
from tests.doubles.github import GitHubDouble
from tests.doubles.kubernetes import TOKEN as K8S_TOKEN
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.mlflow import MlflowWriteDouble
from tests.test_actions_pagers import no_secret
from tools.actions import outcomes
from tools.contract import ToolContext, ToolRegistry
from tools.errors import ToolError
from tools.settings import Settings

ALLOW = "dispatch_workflow,restart_deployment,scale_deployment,undo_deployment,rollback_model_alias"


def configure(ctx: ToolContext, tmp_path: Path, **over: Any) -> None:
    env = {"TRIOPS_ACTION_ALLOWLIST": ALLOW, "TRIOPS_ACTION_VERIFY_DELAY": "0", "TRIOPS_ACTION_HTTP_TIMEOUT": "0.5",
           "TRIOPS_ACTION_NAMESPACES": "shop", "TRIOPS_ACTION_SERVICES": "checkout", "TRIOPS_REPLICAS_MAX": "6",
           "TRIOPS_ACTION_WORKFLOWS": "acme/shop/rollback.yml", "TRIOPS_ACTION_MODELS": "search-ranker", **over}
    ctx.settings = Settings(_env_file=None, home=tmp_path, database_url=None, **env)


def suggest(ctx: ToolContext, action: str, args: dict[str, Any]) -> str:
    s = actions.validate(ToolRegistry(), ctx.settings, Suggestion(action=action, args=args, reason="r"))
    return actions.record(ctx.store, s, key="k", by="agent", actor="U1", ctx=ctx).id


def approve(ctx: ToolContext, rid: str) -> actions.Decision:
    return actions.decide(ToolRegistry(), ctx, ctx.settings, rid, "UA", True, lambda u: u == "UA")


def effect(ctx: ToolContext, rid: str) -> str:
    from tools import approvals

    return str((approvals.followup(ctx.store, rid) or {})["preview"])


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    with KubernetesDouble() as d:
        yield d  # type: ignore[misc]


def test_github_workflow_dispatch(ctx: ToolContext, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with GitHubDouble() as gh:
        configure(ctx, tmp_path, TRIOPS_GITHUB_API_URL=gh.url, TRIOPS_GITHUB_TOKEN=GH_TOKEN)
        args = {"repo": "acme/shop", "workflow": "rollback.yml", "inputs": {"service": "checkout", "version": "v41"}}
        rid = suggest(ctx, "dispatch_workflow", args)
        assert "Dispatch workflow rollback.yml of acme/shop at main with service=checkout, version=v41" in effect(ctx, rid)
        assert approve(ctx, rid).ok
        (post,) = gh.calls("POST")  # type: ignore[attr-defined]
        assert post.path == "/repos/acme/shop/actions/workflows/rollback.yml/dispatches"
        assert post.body == {"ref": "main", "inputs": {"service": "checkout", "version": "v41"}}
        assert post.headers["x-github-api-version"] == "2022-11-28" and post.headers["accept"] == "application/vnd.github+json"
        assert dict(outcomes.run_due_checks(ctx))[rid].outcome == "worked"
        with pytest.raises(ToolError, match="not allowed"):
            suggest(ctx, "dispatch_workflow", {**args, "workflow": "deploy-prod.yml"})
        with pytest.raises(ToolError, match="short plain value"):
            suggest(ctx, "dispatch_workflow", {**args, "inputs": {"service": "checkout; kubectl delete ns shop"}})
        d = approve(ctx, suggest(ctx, "dispatch_workflow", {**args, "inputs": {"unknown": "x"}}))
        assert d.status == "failed" and "HTTP 422 Unexpected inputs" in d.message
        gh.fail_with = (502, {"message": "Server Error"})  # type: ignore[attr-defined]
        assert "HTTP 502" in approve(ctx, suggest(ctx, "dispatch_workflow", args)).message
        no_secret(ctx, caplog, GH_TOKEN)


def test_kubernetes_restart_scale_undo(ctx: ToolContext, tmp_path: Path, k8s: KubernetesDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure(ctx, tmp_path, TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN=K8S_TOKEN)
    ref = {"namespace": "shop", "deployment": "checkout"}
    rid = suggest(ctx, "restart_deployment", ref)
    assert "Rolling restart of deployment shop/checkout (checkout:v42)" in effect(ctx, rid) and "3 pod(s)" in effect(ctx, rid)
    assert approve(ctx, rid).ok
    (patch,) = k8s.calls("PATCH")
    assert patch.headers["authorization"] == f"Bearer {K8S_TOKEN}"
    assert list(patch.body["spec"]["template"]["metadata"]["annotations"]) == ["kubectl.kubernetes.io/restartedAt"]
    assert k8s.deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    rid2 = suggest(ctx, "scale_deployment", {**ref, "replicas": 5})
    assert "from 3 to 5 replica(s)" in effect(ctx, rid2) and "2 pod(s) added" in effect(ctx, rid2)
    assert approve(ctx, rid2).ok and k8s.deployment["spec"]["replicas"] == 5
    assert k8s.calls("PATCH")[-1].path.endswith("/deployments/checkout/scale")

    rid3 = suggest(ctx, "undo_deployment", ref)  # revision 3 (the restart) → revision 2 (v42, no stamp)
    assert "back from revision 3 (checkout:v42) to revision 2 (checkout:v42)" in effect(ctx, rid3)
    assert approve(ctx, rid3).ok
    op = k8s.calls("PATCH")[-1]
    assert op.headers["content-type"].startswith("application/json-patch+json") and op.body[0]["path"] == "/spec/template"
    assert "pod-template-hash" not in op.body[0]["value"]["metadata"]["labels"]
    checks = dict(outcomes.run_due_checks(ctx))
    assert [checks[r].outcome for r in (rid, rid2, rid3)] == ["failed", "worked", "worked"]  # the undo removed the restart stamp
    no_secret(ctx, caplog, K8S_TOKEN)


def test_kubernetes_bounds_and_failures(ctx: ToolContext, tmp_path: Path, k8s: KubernetesDouble) -> None:
    configure(ctx, tmp_path, TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN=K8S_TOKEN)
    for bad, msg in [({"namespace": "kube-system", "deployment": "checkout", "replicas": 2}, "Namespace 'kube-system' is not allowed"),
                     ({"namespace": "shop", "deployment": "payments", "replicas": 2}, "Deployment 'payments' is not allowed"),
                     ({"namespace": "shop", "deployment": "checkout", "replicas": 60}, "Replicas must be 1–6"),
                     ({"namespace": "shop", "deployment": "checkout --all", "replicas": 2}, "Bad arguments")]:
        with pytest.raises(ToolError, match=msg):
            suggest(ctx, "scale_deployment", bad)
    configure(ctx, tmp_path, TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN="wrong-SECRET")
    d = approve(ctx, suggest(ctx, "restart_deployment", {"namespace": "shop", "deployment": "checkout"}))
    assert d.status == "failed" and "HTTP 401" in d.message
    configure(ctx, tmp_path, TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN=K8S_TOKEN)
    k8s.stall = 1.5
    d = approve(ctx, suggest(ctx, "scale_deployment", {"namespace": "shop", "deployment": "checkout", "replicas": 2}))
    assert d.status == "failed" and "did not answer" in d.message
    k8s.stall, k8s.rollout = 0, False
    rid = suggest(ctx, "restart_deployment", {"namespace": "shop", "deployment": "checkout"})
    assert approve(ctx, rid).ok and dict(outcomes.run_due_checks(ctx))[rid].outcome == "no_effect"  # stuck rollout


def test_mlflow_alias_rollback(ctx: ToolContext, tmp_path: Path) -> None:
    with MlflowWriteDouble() as ml:
        configure(ctx, tmp_path, MLFLOW_TRACKING_URI=ml.url)
        rid = suggest(ctx, "rollback_model_alias", {"model": "search-ranker"})
        assert "Move search-ranker@champion from v2 to v1." in effect(ctx, rid)
        assert approve(ctx, rid).ok
        (post,) = ml.calls("POST")  # type: ignore[attr-defined]
        assert post.path == "/api/2.0/mlflow/registered-models/alias"
        assert post.body == {"name": "search-ranker", "alias": "champion", "version": "1"}
        assert dict(outcomes.run_due_checks(ctx))[rid].outcome == "worked"
        with pytest.raises(ToolError, match="Model 'churn' is not allowed"):
            suggest(ctx, "rollback_model_alias", {"model": "churn"})
        d = approve(ctx, suggest(ctx, "rollback_model_alias", {"model": "search-ranker", "to_version": 9}))
        assert d.status == "failed" and "HTTP 404" in d.message


def test_a_fix_worked_only_if_its_incident_stopped_firing(ctx: ToolContext, tmp_path: Path, k8s: KubernetesDouble) -> None:
    from datetime import UTC, datetime

    from tools.alerts.summary import IncidentSummary
    from tools.store.alerts import save_incidents

    configure(ctx, tmp_path, TRIOPS_KUBERNETES_API_URL=k8s.url, TRIOPS_KUBERNETES_TOKEN=K8S_TOKEN)
    t = datetime(2026, 12, 1, tzinfo=UTC)
    firing = IncidentSummary(id="INC-K", status="open", severity="critical", title="checkout 5xx", opened_at=t,
                             last_alert_at=t, alert_count=2, firing_count=2)
    with ctx.store.begin() as conn:
        save_incidents(conn, [firing])
    ref = {"namespace": "shop", "deployment": "checkout", "incident_id": "INC-K"}
    rid = suggest(ctx, "restart_deployment", ref)
    assert approve(ctx, rid).ok
    (check,) = [c for r, c in outcomes.run_due_checks(ctx) if r == rid]
    assert check.outcome == "no_effect" and "incident INC-K still has 2 firing alert(s)" in check.detail
    assert outcomes.summary(ctx.store)["incidents"] == 0

    with ctx.store.begin() as conn:
        save_incidents(conn, [firing.model_copy(update={"status": "resolved", "firing_count": 0, "resolved_at": t})])
    rid2 = suggest(ctx, "scale_deployment", {**ref, "replicas": 4})
    assert approve(ctx, rid2).ok
    (check2,) = [c for r, c in outcomes.run_due_checks(ctx) if r == rid2]
    assert check2.outcome == "worked" and check2.detail.endswith("incident INC-K resolved")
    s = outcomes.summary(ctx.store)
    assert s["incidents"] == 1 and s["kinds"]["restart_deployment"]["no_effect"] == 1
    assert "1 incident(s) remediated" in outcomes.stats_lines(ctx.store)[0]
