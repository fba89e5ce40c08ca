"""Restart, scale or undo a Kubernetes Deployment with the official `kubernetes` client
(apps/v1): restart patches spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]
(what `kubectl rollout restart` does), scale patches the scale subresource, undo replaces the
pod template with the previous ReplicaSet's (what `kubectl rollout undo` does)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from pydantic import Field

from tools.actions.base import ActionIn, ActionOut, ActionSpec, Check, Preview, allowed, require
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.settings import Settings
from tools.timeutil import now_utc

BACKEND = "Kubernetes"
DNS = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
REVISION = "deployment.kubernetes.io/revision"


class DeploymentRef(ActionIn):
    namespace: str = Field(pattern=DNS)
    deployment: str = Field(pattern=DNS)
    incident_id: str | None = Field(default=None, max_length=64)


class RestartIn(DeploymentRef):
    """Rolling restart of a Deployment."""


class ScaleIn(DeploymentRef):
    """Set a Deployment's replica count."""

    replicas: int = Field(ge=0, le=1000)


class UndoIn(DeploymentRef):
    """Roll a Deployment back to its previous revision."""


def check(settings: Settings, args: DeploymentRef) -> None:
    require(settings.kubernetes_api_url, "TRIOPS_KUBERNETES_API_URL")
    allowed(args.namespace, Settings.csv(settings.action_namespaces_csv), "Namespace", "TRIOPS_ACTION_NAMESPACES")
    allowed(args.deployment, Settings.csv(settings.action_services_csv), "Deployment", "TRIOPS_ACTION_SERVICES")
    if isinstance(args, ScaleIn) and not settings.replicas_min <= args.replicas <= settings.replicas_max:
        raise ToolError(f"Replicas must be {settings.replicas_min}–{settings.replicas_max}, not {args.replicas}.",
                        hint="TRIOPS_REPLICAS_MIN / TRIOPS_REPLICAS_MAX")


def _apps(settings: Settings) -> Any:
    from kubernetes import client

    conf = client.Configuration(host=str(require(settings.kubernetes_api_url, "TRIOPS_KUBERNETES_API_URL")))
    if settings.kubernetes_token is not None:
        conf.api_key = {"authorization": settings.kubernetes_token.get_secret_value()}
        conf.api_key_prefix = {"authorization": "Bearer"}
    return client.AppsV1Api(client.ApiClient(conf))


def _k8s(ctx: ToolContext, fn: str, *args: Any, **kw: Any) -> dict[str, Any]:
    """One API call, its JSON; ApiException and timeouts become a ToolError (no headers)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    api = _apps(ctx.settings)
    try:
        resp = getattr(api, fn)(*args, _preload_content=False, _request_timeout=ctx.settings.action_http_timeout, **kw)
    except ApiException as exc:
        reason = ""
        with contextlib.suppress(ValueError):
            reason = json.loads(exc.body or "{}").get("message", "")
        raise ToolError(f"{BACKEND} refused: HTTP {exc.status} {reason or exc.reason}"[:400]) from None
    except HTTPError as exc:
        raise ToolError(f"{BACKEND} did not answer ({type(exc).__name__}).") from None
    finally:
        api.api_client.close()
    return dict(json.loads(resp.data or b"{}"))


def _deployment(ctx: ToolContext, a: DeploymentRef) -> dict[str, Any]:
    return _k8s(ctx, "read_namespaced_deployment", a.deployment, a.namespace)


def _images(template: dict[str, Any]) -> str:
    return ", ".join(c.get("image", "?") for c in template.get("spec", {}).get("containers", [])) or "?"


def _previous(ctx: ToolContext, a: DeploymentRef, dep: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The previous revision and its ReplicaSet's pod template (pod-template-hash removed)."""
    labels = dep["spec"]["selector"].get("matchLabels", {})
    sets = _k8s(ctx, "list_namespaced_replica_set", a.namespace,
                label_selector=",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    uid = dep["metadata"].get("uid")
    current = int(dep["metadata"].get("annotations", {}).get(REVISION, "0"))
    owned = [rs for rs in sets.get("items", [])
             if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences", []))]
    older = sorted(((int(rs["metadata"].get("annotations", {}).get(REVISION, "0")), rs) for rs in owned),
                   key=lambda x: x[0])
    older = [x for x in older if x[0] < current]
    if not older:
        raise ToolError(f"{a.namespace}/{a.deployment} has no previous revision to roll back to.")
    rev, rs = older[-1]
    tmpl = json.loads(json.dumps(rs["spec"]["template"]))
    tmpl.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
    return rev, tmpl


def preview_restart(ctx: ToolContext, a: RestartIn) -> Preview:
    dep = _deployment(ctx, a)
    n = dep["spec"].get("replicas", 1)
    return Preview(effect=f"Rolling restart of deployment {a.namespace}/{a.deployment} ({_images(dep['spec']['template'])}).",
                   blast_radius=f"{n} pod(s) replaced one by one; capacity dips while new pods start")


@tool("restart_deployment", "Rolling restart of an allowed Kubernetes Deployment.", mutates=True)
def restart_deployment(ctx: ToolContext, a: RestartIn) -> ActionOut:
    check(ctx.settings, a)
    at = now_utc().strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": at}}}}}
    dep = _k8s(ctx, "patch_namespaced_deployment", a.deployment, a.namespace, body)
    return ActionOut(summary=f"Deployment {a.namespace}/{a.deployment} restarting (restartedAt {at}).", ref=at,
                     details={"generation": dep.get("metadata", {}).get("generation")})


def _rolled_out(dep: dict[str, Any]) -> tuple[bool, str]:
    st, want = dep.get("status", {}), dep["spec"].get("replicas", 1)
    done = (st.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
            and st.get("updatedReplicas", 0) == want and st.get("availableReplicas", 0) == want)
    return done, f"{st.get('updatedReplicas', 0)}/{want} updated, {st.get('availableReplicas', 0)} available"


def verify_restart(ctx: ToolContext, a: RestartIn, result: dict[str, Any]) -> Check:
    dep = _deployment(ctx, a)
    stamp = dep["spec"]["template"].get("metadata", {}).get("annotations", {}).get("kubectl.kubernetes.io/restartedAt")
    done, detail = _rolled_out(dep)
    if stamp != result.get("ref"):
        return Check(outcome="failed", detail="the restart annotation was replaced: " + detail)
    return Check(outcome="worked" if done else "no_effect", detail=("rolled out: " if done else "not rolled out: ") + detail)


def preview_scale(ctx: ToolContext, a: ScaleIn) -> Preview:
    dep = _deployment(ctx, a)
    n = dep["spec"].get("replicas", 1)
    return Preview(effect=f"Scale deployment {a.namespace}/{a.deployment} from {n} to {a.replicas} replica(s).",
                   blast_radius=f"{abs(a.replicas - n)} pod(s) {'added' if a.replicas >= n else 'removed'}")


@tool("scale_deployment", "Set the replica count of an allowed Kubernetes Deployment (within bounds).", mutates=True)
def scale_deployment(ctx: ToolContext, a: ScaleIn) -> ActionOut:
    check(ctx.settings, a)
    got = _k8s(ctx, "patch_namespaced_deployment_scale", a.deployment, a.namespace, {"spec": {"replicas": a.replicas}})
    return ActionOut(summary=f"Deployment {a.namespace}/{a.deployment} scaled to {got.get('spec', {}).get('replicas')}.",
                     ref=str(a.replicas))


def verify_scale(ctx: ToolContext, a: ScaleIn, result: dict[str, Any]) -> Check:
    dep = _deployment(ctx, a)
    ready = dep.get("status", {}).get("availableReplicas", 0)
    if dep["spec"].get("replicas") != a.replicas:
        return Check(outcome="failed", detail=f"spec.replicas is {dep['spec'].get('replicas')} again")
    return Check(outcome="worked" if ready == a.replicas else "no_effect", detail=f"{ready}/{a.replicas} available")


def preview_undo(ctx: ToolContext, a: UndoIn) -> Preview:
    dep = _deployment(ctx, a)
    rev, tmpl = _previous(ctx, a, dep)
    cur = dep["metadata"].get("annotations", {}).get(REVISION, "?")
    return Preview(effect=f"Roll deployment {a.namespace}/{a.deployment} back from revision {cur} "
                          f"({_images(dep['spec']['template'])}) to revision {rev} ({_images(tmpl)}).",
                   blast_radius=f"{dep['spec'].get('replicas', 1)} pod(s) replaced one by one")


@tool("undo_deployment", "Roll an allowed Kubernetes Deployment back to its previous revision.", mutates=True)
def undo_deployment(ctx: ToolContext, a: UndoIn) -> ActionOut:
    check(ctx.settings, a)
    dep = _deployment(ctx, a)
    rev, tmpl = _previous(ctx, a, dep)
    _k8s(ctx, "patch_namespaced_deployment", a.deployment, a.namespace,
         [{"op": "replace", "path": "/spec/template", "value": tmpl}])
    return ActionOut(summary=f"Deployment {a.namespace}/{a.deployment} rolled back to revision {rev} ({_images(tmpl)}).",
                     ref=_images(tmpl), details={"revision": rev})


def verify_undo(ctx: ToolContext, a: UndoIn, result: dict[str, Any]) -> Check:
    dep = _deployment(ctx, a)
    done, detail = _rolled_out(dep)
    if _images(dep["spec"]["template"]) != result.get("ref"):
        return Check(outcome="failed", detail="the template is no longer the rolled-back one")
    return Check(outcome="worked" if done else "no_effect", detail=detail)


SPECS = [
    ActionSpec(tool=restart_deployment, check=check, preview=preview_restart, verify=verify_restart, fixes=True),
    ActionSpec(tool=scale_deployment, check=check, preview=preview_scale, verify=verify_scale, fixes=True),
    ActionSpec(tool=undo_deployment, check=check, preview=preview_undo, verify=verify_undo, fixes=True),
]
