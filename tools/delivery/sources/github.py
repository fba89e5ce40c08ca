"""GitHub `deployment_status` (X-GitHub-Event). Identity: `deployment.id`. Signature:
`X-Hub-Signature-256: sha256=<hex>` when TRIOPS_GITHUB_WEBHOOK_SECRET is set. Only final
states (success, failure, error) are stored; other events are 202 "ignored"."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from tools.delivery.github import deployment_from_github
from tools.delivery.sources.base import Changes, hex_hmac


class GitHubSource:
    name = "github"
    signature_header: str | None = "X-Hub-Signature-256"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        event = headers.get("x-github-event", "")
        if event != "deployment_status":
            return Changes.skip(event or "unknown GitHub event (no X-GitHub-Event)")
        try:
            dep = deployment_from_github(body)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"missing or malformed field {exc}") from None
        if dep is None:
            return Changes.skip(f"deployment_status {body['deployment_status'].get('state')} (not finished yet)")
        return Changes(deployments=[dep])

    def secret(self, settings: Any) -> str | None:
        s = getattr(settings, "github_webhook_secret", None)
        return s.get_secret_value() if s is not None else None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        expected = "sha256=" + hex_hmac(secret, raw)
        return hmac.compare_digest(expected, headers.get("x-hub-signature-256", ""))


SOURCE = GitHubSource()
