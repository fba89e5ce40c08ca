"""PagerDuty REST API v2 double: GET/PUT /incidents/{id}, GET/POST /incidents/{id}/notes.
Checks `Authorization: Token token=…`, the v2 Accept header and `From:` like PagerDuty does
(401 / 400 with PagerDuty's error object)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.doubles.http import HttpDouble, Request

TOKEN = "pd-test-token-SECRET"
FROM = "oncall@example.com"


class PagerDutyDouble(HttpDouble):
    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, dict[str, Any]] = {
            "PT4KHLK": {"id": "PT4KHLK", "type": "incident", "title": "checkout HighErrorRate", "status": "triggered",
                        "service": {"id": "PSVC1", "type": "service_reference", "summary": "checkout"}},
        }
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.route("GET", r"/incidents/(\w+)", self._get)
        self.route("PUT", r"/incidents/(\w+)", self._put)
        self.route("GET", r"/incidents/(\w+)/notes", self._list_notes)
        self.route("POST", r"/incidents/(\w+)/notes", self._add_note)

    def _auth(self, req: Request, write: bool) -> tuple[int, Any] | None:
        if req.headers.get("authorization") != f"Token token={TOKEN}":
            return 401, {"error": {"message": "Unauthorized", "code": 2006}}
        if req.headers.get("accept") != "application/vnd.pagerduty+json;version=2":
            return 406, {"error": {"message": "Not Acceptable", "code": 2001}}
        if write and not req.headers.get("from"):
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001,
                                   "errors": ["A valid user email must be provided in the From header."]}}
        return None

    def _incident(self, m: re.Match[str]) -> dict[str, Any] | None:
        return self.incidents.get(m.group(1))

    def _get(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req, False)) is not None:
            return bad
        inc = self._incident(m)
        return (200, {"incident": inc}) if inc else (404, {"error": {"message": "Not Found", "code": 2100}})

    def _put(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req, True)) is not None:
            return bad
        inc = self._incident(m)
        if inc is None:
            return 404, {"error": {"message": "Not Found", "code": 2100}}
        body = (req.body or {}).get("incident") or {}
        if body.get("type") not in ("incident", "incident_reference") or body.get("status") not in ("acknowledged", "resolved"):
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001}}
        inc["status"] = body["status"]
        return 200, {"incident": inc}

    def _list_notes(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req, False)) is not None:
            return bad
        return 200, {"notes": self.notes.get(m.group(1), [])}

    def _add_note(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (bad := self._auth(req, True)) is not None:
            return bad
        if self._incident(m) is None:
            return 404, {"error": {"message": "Not Found", "code": 2100}}
        content = ((req.body or {}).get("note") or {}).get("content")
        if not content:
            return 400, {"error": {"message": "Invalid Input Provided", "code": 2001}}
        note = {"id": "PN" + uuid.uuid4().hex[:6].upper(), "content": content,
                "user": {"type": "user_reference", "summary": req.headers["from"]}}
        self.notes.setdefault(m.group(1), []).append(note)
        return 201, {"note": note}
