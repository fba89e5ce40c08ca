"""Opsgenie Alert API v2 double: POST /v2/alerts/{id}/acknowledge|close answer 202 with a
requestId (asynchronous); GET /v2/alerts/requests/{requestId} says how it went.
Auth is `Authorization: GenieKey …` (422/401 as Opsgenie answers)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.doubles.http import HttpDouble, Request

KEY = "og-test-key-SECRET"


class OpsgenieDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, str] = {"70413a06-38d6-4c85-92b8-5ebc900d42e2": "open"}
        self.processed: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/v2/alerts/([\w-]+)/(acknowledge|close)", self._act)
        self.route("GET", r"/v2/alerts/requests/([\w-]+)", self._request)

    def _auth(self, req: Request) -> tuple[int, Any] | None:
        if req.headers.get("authorization") != f"GenieKey {KEY}":
            return 401, {"message": "Could not authenticate", "took": 0.0, "requestId": str(uuid.uuid4())}
        return None

    def _act(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req)) is not None:
            return bad
        if req.query.get("identifierType", "id") != "id":
            return 422, {"message": "Invalid identifierType", "took": 0.0, "requestId": str(uuid.uuid4())}
        rid = str(uuid.uuid4())
        alert, op = m.group(1), m.group(2)
        ok = alert in self.alerts
        if ok:
            self.alerts[alert] = "acked" if op == "acknowledge" else "closed"
        self.processed[rid] = {"success": ok, "action": op.capitalize(), "processedAt": "2026-12-01T00:00:00Z",
                               "integrationId": "c9cec2cb", "isSuccess": ok,
                               "status": f"{op.capitalize()}d" if ok else "Alert does not exist", "alertId": alert}
        return 202, {"result": "Request will be processed", "took": 0.002, "requestId": rid}

    def _request(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req)) is not None:
            return bad
        data = self.processed.get(m.group(1))
        if data is None:
            return 404, {"message": "Request not found", "took": 0.0, "requestId": m.group(1)}
        return 200, {"data": data, "took": 0.001, "requestId": str(uuid.uuid4())}
