"""Roll back or redeploy a service through a deploy system's generic signed webhook, for
deploy systems that are not GitHub Actions (Argo CD hooks, Spinnaker, an in-house deployer).

The request is `POST TRIOPS_ACTION_WEBHOOK_URL` with a JSON body and three headers:
`X-Triops-Timestamp` (unix seconds), `X-Triops-Signature: sha256=<hex>` where the hex is
HMAC-SHA256(TRIOPS_ACTION_WEBHOOK_SECRET, timestamp + "." + body) over the exact body bytes,
and `Idempotency-Key` (the approved request's id, so a retried delivery is deduplicated by
the receiver). The receiver answers 2xx; it may name a `status_url` on the same host, which
the follow-up check reads (signed the same way, empty body) for `{"status": …}`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from pydantic import Field

from tools.actions.base import (
    REQUEST_ID,
    ActionIn,
    ActionOut,
    ActionSpec,
    Check,
    Preview,
    allowed,
    call,
    require,
    sign,
)
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.settings import Settings

BACKEND = "Deploy webhook"
DONE = {"succeeded", "success", "completed", "done"}
FAILED = {"failed", "failure", "error", "cancelled", "canceled"}


class WebhookDeployIn(ActionIn):
    """Roll back or redeploy an allowed service through the deploy system's signed webhook."""

    service: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    operation: Literal["rollback", "redeploy"]
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.+-]{1,100}$",
                                description="Target version (default: the deploy system's previous / current one)")
    incident_id: str | None = Field(default=None, max_length=64)


def _target(settings: Settings) -> tuple[str, str]:
    url = str(require(settings.action_webhook_url, "TRIOPS_ACTION_WEBHOOK_URL"))
    secret = require(settings.action_webhook_secret, "TRIOPS_ACTION_WEBHOOK_SECRET")
    if not url.startswith(("http://", "https://")):
        raise ToolError("TRIOPS_ACTION_WEBHOOK_URL must be an http(s) URL.")
    return url, secret.get_secret_value()


def _headers(secret: str, body: bytes, key: str | None) -> dict[str, str]:
    ts = str(int(time.time()))
    out = {"Content-Type": "application/json", "X-Triops-Timestamp": ts, "X-Triops-Signature": sign(secret, ts, body)}
    if key:
        out["Idempotency-Key"] = key
    return out


def check(settings: Settings, args: WebhookDeployIn) -> None:
    _target(settings)
    allowed(args.service, Settings.csv(settings.action_services_csv), "Service", "TRIOPS_ACTION_SERVICES")


def preview(ctx: ToolContext, args: WebhookDeployIn) -> Preview:
    url, _ = _target(ctx.settings)
    to = f" to version {args.version}" if args.version else (" to its previous version" if args.operation == "rollback"
                                                             else " at its current version")
    return Preview(effect=f"{args.operation.capitalize()} service {args.service}{to} through the deploy webhook "
                          f"at {_host(url)} (signed, idempotent).",
                   blast_radius=f"every instance of {args.service}, replaced by the deploy system's rollout")


def _host(url: str) -> str:
    """host[:port] only: a URL's user:password never reaches a card."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


@tool("deploy_webhook", "Roll back or redeploy an allowed service through the deploy system's signed webhook.",
      mutates=True)
def deploy_webhook(ctx: ToolContext, args: WebhookDeployIn) -> ActionOut:
    check(ctx.settings, args)
    url, secret = _target(ctx.settings)
    key = REQUEST_ID.get() or uuid.uuid4().hex
    payload = {"operation": args.operation, "service": args.service, "version": args.version,
               "incident_id": args.incident_id, "idempotency_key": key, "source": "triops"}
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    got = call(ctx, "POST", url, headers=_headers(secret, body, key), content=body, ok=(200, 201, 202, 204),
               backend=BACKEND)
    status_url = _status_url(url, (got or {}).get("status_url") if isinstance(got, dict) else None)
    return ActionOut(summary=f"The deploy system accepted the {args.operation} of {args.service} (key {key[:12]}).",
                     ref=key, details={"status_url": status_url} if status_url else {})


def _status_url(base: str, given: Any) -> str | None:
    """The receiver's status URL, only on the webhook's own scheme and host (never elsewhere)."""
    if not isinstance(given, str) or not given:
        return None
    full = urljoin(base, given)
    a, b = urlsplit(base), urlsplit(full)
    return full if (a.scheme, a.netloc) == (b.scheme, b.netloc) else None


def verify(ctx: ToolContext, args: WebhookDeployIn, result: dict[str, Any]) -> Check:
    url, secret = _target(ctx.settings)
    status_url = _status_url(url, (result.get("details") or {}).get("status_url"))
    if status_url is None:
        return Check(outcome="worked", detail="the deploy system accepted it (it gives no status to read)")
    got = call(ctx, "GET", status_url, headers=_headers(secret, b"", result.get("ref")), ok=(200,), backend=BACKEND)
    status = str((got or {}).get("status", "unknown")).lower() if isinstance(got, dict) else "unknown"
    if status in DONE:
        return Check(outcome="worked", detail=f"the {args.operation} {status}")
    if status in FAILED:
        return Check(outcome="failed", detail=f"the {args.operation} {status}")
    return Check(outcome="no_effect", detail=f"the {args.operation} is still {status}")


SPECS = [ActionSpec(tool=deploy_webhook, check=check, preview=preview, verify=verify, fixes=True)]
