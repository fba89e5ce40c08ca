"""Argo CD notifications (webhook service). The body is whatever the template renders, so
three shapes are read:

1. triops's template (docs/sources.md): `{"app", "revision", "sync_status",
   "health_status", "phase", "finished_at", "environment", "service"}`, or `{"app": <toJson
   .app>}` (metadata.name, status.sync/health/operationState);
2. the docs' GitHub commit-status body (`state`, `context: continuous-delivery/<app>`),
   with `?revision=` in the webhook URL (the docs put the revision in the URL path);
3. `{{toJson .app.status.operationState.syncResult}}` (`resources`, `revision`) with `?app=`.

Identity: app + revision (Argo CD's own `oncePer: app.status.sync.revision`). A sync that
succeeded (Synced, Healthy or phase Succeeded) is a successful deployment; Failed/Error/
Degraded a failed one; Running/Progressing/pending are 202 "ignored". No signing in Argo
CD: auth is the shared token (a `headers` entry in the service config).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tools.alerts.sources.base import parse_time
from tools.delivery.models import DeploymentEvent
from tools.delivery.sources.base import Changes, NoSignature
from tools.errors import PayloadError

SUCCESS = {"succeeded", "success", "synced", "healthy"}
FAILURE = {"failed", "failure", "error", "degraded"}


def _outcome(*states: Any) -> str | None:
    seen = [str(s).lower() for s in states if s]
    if any(s in FAILURE for s in seen):
        return "failure"
    if seen and all(s in SUCCESS for s in seen):
        return "success"
    return None


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def _flatten(body: dict[str, Any]) -> dict[str, Any]:
    app = body.get("app")
    if isinstance(app, dict):  # toJson .app
        meta, status = _obj(app, "metadata"), _obj(app, "status")
        sync, health, op = _obj(status, "sync"), _obj(status, "health"), _obj(status, "operationState")
        result = _obj(op, "syncResult")
        return {**body, "app": meta.get("name"), "namespace": meta.get("namespace"),
                "revision": body.get("revision") or result.get("revision") or sync.get("revision"),
                "sync_status": body.get("sync_status") or sync.get("status"),
                "health_status": body.get("health_status") or health.get("status"),
                "phase": body.get("phase") or op.get("phase"),
                "finished_at": body.get("finished_at") or op.get("finishedAt")}
    return body


class ArgoCDSource(NoSignature):
    name = "argocd"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        if not isinstance(body, dict):
            raise ValueError("body: not a JSON object")
        if "state" in body and "context" in body:  # the docs' GitHub commit-status template
            app_name = str(body["context"]).rsplit("/", 1)[-1]
            outcome: str | None = {"success": "success", "failure": "failure", "error": "failure"}.get(str(body["state"]).lower())
            if outcome is None:
                return Changes.skip(f"sync {body['state']} (not finished)")
            return self._one(app_name, query.get("revision"), outcome, None, query, body)
        if "resources" in body and "revision" in body and "app" not in body:  # toJson syncResult
            app_q = query.get("app")
            if not app_q:
                raise ValueError("app: missing (a syncResult body needs ?app=<name> in the webhook URL)")
            states = [r.get("status") for r in body["resources"] if isinstance(r, dict)] if isinstance(body["resources"], list) else []
            outcome = _outcome(*states) if states else "success"
            if outcome is None:
                return Changes.skip("sync still running")
            return self._one(app_q, body.get("revision"), outcome, None, query, body)
        if "attachments" in body or "blocks" in body:
            return Changes.skip("a Slack-formatted notification (use the triops template, docs/sources.md)")
        flat = _flatten(body)
        app = flat.get("app")
        if not app or not isinstance(app, str):
            raise ValueError("app: missing (the Argo CD template must send the application name)")
        outcome = _outcome(flat.get("phase"), flat.get("sync_status"), flat.get("health_status"))
        if outcome is None:
            seen = "/".join(str(flat.get(k)) for k in ("phase", "sync_status", "health_status") if flat.get(k))
            return Changes.skip(f"sync {seen or 'without status'} (not finished)")
        return self._one(app, flat.get("revision"), outcome, flat.get("finished_at"), query, flat)

    def _one(self, app: str, revision: Any, outcome: str, finished: Any, query: Mapping[str, str],
             body: dict[str, Any]) -> Changes:
        if not revision or not isinstance(revision, str):
            raise ValueError("revision: missing (send .app.status.operationState.syncResult.revision, or ?revision=)")
        try:
            at = parse_time(finished, "finished_at") if finished else None
        except PayloadError as exc:
            raise ValueError(str(exc)) from None
        dep = DeploymentEvent.model_validate({
            "id": f"argocd-{app}-{revision}"[:200],
            "service": body.get("service") or query.get("service") or app,
            "environment": body.get("environment") or query.get("environment") or "production",
            "finished_at": at or datetime.now(tz=UTC),
            "status": outcome,
            "commits": [{"sha": revision[:64]}],
            "version": revision[:128],
        })
        return Changes(deployments=[dep], timeless=at is None)


SOURCE = ArgoCDSource()
