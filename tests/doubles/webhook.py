"""A deploy system's receiver of triops' signed webhook (tools/actions/webhook.py): it checks
the HMAC-SHA256 signature over timestamp + "." + the exact body, refuses a stale timestamp
(replay) and deduplicates on Idempotency-Key, as a receiver should. 202 with a status_url;
GET of that URL (signed too) answers the deploy's status."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from typing import Any

from tests.doubles.http import HttpDouble, Request

SECRET = "whsec-test-SECRET"
SKEW = 300


class DeployWebhookDouble(HttpDouble):
    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.deploys: dict[str, dict[str, Any]] = {}  # idempotency key → the deploy it started
        self.outcome = "succeeded"
        self.route("POST", r"/deploy", self._deploy)
        self.route("GET", r"/deploys/([\w-]+)", self._status)

    def valid(self, req: Request) -> str | None:
        """Why the request is not authentic, or None."""
        ts, sig = req.headers.get("x-triops-timestamp", ""), req.headers.get("x-triops-signature", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > SKEW:
            return "stale or missing timestamp"
        want = "sha256=" + hmac.new(self.secret.encode(), ts.encode() + b"." + req.raw, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(want, sig) else "bad signature"

    def _deploy(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (why := self.valid(req)) is not None:
            return 401, {"error": why}
        key = req.headers.get("idempotency-key")
        if not key or (req.body or {}).get("idempotency_key") != key:
            return 400, {"error": "Idempotency-Key missing or not the body's"}
        if key not in self.deploys:  # a retry with the same key starts nothing new
            self.deploys[key] = {"body": req.body, "status": self.outcome}
        return 202, {"id": key, "status_url": f"/deploys/{key}"}

    def _status(self, req: Request, m: re.Match[str]) -> tuple[int, Any]:
        if (why := self.valid(req)) is not None:
            return 401, {"error": why}
        dep = self.deploys.get(m.group(1))
        return (200, {"status": dep["status"]}) if dep else (404, {"error": "no such deploy"})
