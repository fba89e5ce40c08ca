"""GitLab deployment events (`object_kind: deployment`, X-Gitlab-Event: Deployment Hook).

Identity: `deployment_id` (per project). `status` success/failed are stored (failed as a
failed deployment); running/canceled/created/blocked are 202 "ignored". Time:
`status_changed_at` ("2021-04-28 21:50:00 +0200"). Service: the project's name. GitLab
sends its secret as plain `X-Gitlab-Token` (no HMAC): accepted as the shared token when
TRIOPS_GITLAB_WEBHOOK_TOKEN is set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from tools.alerts.sources.base import parse_time
from tools.delivery.models import DeploymentEvent
from tools.delivery.sources.base import Changes, require
from tools.errors import PayloadError

FINISHED = {"success": "success", "failed": "failure"}


class GitLabSource:
    name = "gitlab"
    signature_header: str | None = "X-Gitlab-Token"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        if not isinstance(body, dict):
            raise ValueError("body: not a JSON object")
        kind = body.get("object_kind")
        if kind != "deployment":
            return Changes.skip(f"object_kind {kind or 'missing'}")
        status = str(body.get("status") or "").lower()
        if status not in FINISHED:
            return Changes.skip(f"deployment {status or 'without status'} (not finished)")
        dep_id = require(body, "deployment_id", "")
        project = require(body, "project", "")
        name = require(project, "name", "project") if isinstance(project, dict) else None
        if name is None:
            raise ValueError("project: not a JSON object")
        try:
            at = parse_time(require(body, "status_changed_at", ""), "status_changed_at")
        except PayloadError as exc:
            raise ValueError(str(exc)) from None
        url = body.get("commit_url")
        sha = url.rsplit("/", 1)[-1] if isinstance(url, str) and url else body.get("short_sha")
        dep = DeploymentEvent.model_validate({
            "id": f"gitlab-{project.get('id', name)}-{dep_id}",
            "service": query.get("service") or name,
            "environment": body.get("environment_tier") or body.get("environment") or "production",
            "finished_at": at,
            "status": FINISHED[status],
            "commits": [{"sha": sha}] if sha else [],
            "version": body.get("short_sha"),
        })
        return Changes(deployments=[dep])

    def secret(self, settings: Any) -> str | None:
        s = getattr(settings, "gitlab_webhook_token", None)
        return s.get_secret_value() if s is not None else None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        return hmac.compare_digest(secret.encode(), headers.get("x-gitlab-token", "").encode())


SOURCE = GitLabSource()
