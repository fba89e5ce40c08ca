"""GitHub `deployment_status` webhook -> DeploymentEvent (finished states only).

GitHub does not send commit times; a deployment's `payload` may carry
`{"service", "kind", "remediates", "team", "commits": [{"sha", "committed_at"}]}`, which
CI pipelines commonly set. Without it the head sha is stored with no commit time (it then
counts as a commit without time, not in lead time).
"""

from __future__ import annotations

from typing import Any

from tools.delivery.models import DeploymentEvent

FINISHED = {"success": "success", "failure": "failure", "error": "failure"}


def deployment_from_github(body: dict[str, Any]) -> DeploymentEvent | None:
    """None for states that are not final (queued, pending, in_progress)."""
    if not isinstance(body, dict):
        raise ValueError("body: not a JSON object")
    status, dep = body.get("deployment_status"), body.get("deployment")
    if not isinstance(status, dict) or not isinstance(dep, dict):
        raise ValueError("deployment_status and deployment must be objects")
    state = str(status.get("state", "")).lower()
    if state not in FINISHED:
        return None
    payload = dep.get("payload") or {}
    if isinstance(payload, str):
        payload = {}
    repository = body.get("repository")
    repo = repository.get("name") if isinstance(repository, dict) else None
    commits = payload.get("commits") or [{"sha": dep["sha"], "committed_at": None}]
    return DeploymentEvent.model_validate(
        {
            "id": f"github-{dep['id']}",
            "service": payload.get("service") or repo,
            "environment": status.get("environment") or dep.get("environment") or "production",
            "started_at": dep.get("created_at"),
            "finished_at": status.get("updated_at") or status.get("created_at"),
            "status": FINISHED[state],
            "kind": payload.get("kind", "normal"),
            "remediates": payload.get("remediates"),
            "commits": commits,
            "team": payload.get("team"),
            "version": dep.get("ref"),
        }
    )
