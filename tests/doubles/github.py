"""GitHub REST double for workflow_dispatch: POST .../actions/workflows/{id}/dispatches → 204
(422 for an unknown input or ref, 404 for an unknown workflow), and the runs it started at
GET .../actions/workflows/{id}/runs. Checks the Bearer token and the API version header."""

from __future__ import annotations

import re
from typing import Any

from tests.doubles.http import HttpDouble, Request

TOKEN = "ghp-test-token-SECRET"
WF = r"/repos/([\w.-]+/[\w.-]+)/actions/workflows/([\w.-]+)"


class GitHubDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.workflows = {("acme/shop", "rollback.yml"): {"service", "version"}}
        self.runs: list[dict[str, Any]] = []
        self.conclusion = "success"
        self.route("POST", WF + r"/dispatches", self._dispatch)
        self.route("GET", WF + r"/runs", self._runs)

    def _auth(self, req: Request) -> tuple[int, Any] | None:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        return None

    def _dispatch(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req)) is not None:
            return bad
        inputs = self.workflows.get((m.group(1), m.group(2)))
        if inputs is None:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
        body = req.body or {}
        extra = set(body.get("inputs") or {}) - inputs
        if not body.get("ref") or extra:
            return 422, {"message": f"Unexpected inputs provided: {sorted(extra)}" if extra else "Invalid request"}
        self.runs.insert(0, {"id": 1000 + len(self.runs), "event": "workflow_dispatch", "status": "completed",
                             "conclusion": self.conclusion, "head_branch": body["ref"],
                             "created_at": "2099-01-01T00:00:00Z"})
        return 204, None

    def _runs(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req)) is not None:
            return bad
        return 200, {"total_count": len(self.runs), "workflow_runs": self.runs}
