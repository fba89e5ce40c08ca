"""What every action shares: its spec (tool, preview, check, verify), outcomes, and the one
HTTP call to a backend that turns 4xx/5xx/timeouts into a ToolError without any secret in it."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.contract import Tool, ToolContext
from tools.errors import ToolError
from tools.settings import Settings

Outcome = Literal["worked", "no_effect", "failed"]


class ActionIn(BaseModel):
    """An action's input: unknown fields are an error, never silently dropped or passed on."""

    model_config = ConfigDict(extra="forbid")


class Preview(BaseModel):
    """The dry-run: exactly what will change, and how much it touches."""

    effect: str
    blast_radius: str


class Check(BaseModel):
    """The follow-up check after an execution."""

    outcome: Outcome
    detail: str


class ActionOut(BaseModel):
    """What an executed action returns: a one-line summary and the backend's reference."""

    summary: str
    ref: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class ActionSpec:
    tool: Tool[Any, Any]
    # Bounds from settings (allowed namespaces, durations…): ToolError when out of bounds.
    check: Callable[[Settings, Any], None]
    preview: Callable[[ToolContext, Any], Preview]
    verify: Callable[[ToolContext, Any, dict[str, Any]], Check] | None = None
    # A fix (restart, rollback…) worked only if the incident it was for stopped firing too;
    # a silence, an ack or a note changes who is paged, not the incident.
    fixes: bool = False

    @property
    def name(self) -> str:
        return self.tool.name


# The approved request an executor runs for: its id is the idempotency key a backend can
# dedupe on (set by bot.agent.actions.decide; None when a tool runs outside an approval).
REQUEST_ID: ContextVar[str | None] = ContextVar("triops_action_request", default=None)


@contextmanager
def request_scope(rid: str) -> Iterator[None]:
    token = REQUEST_ID.set(rid)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


# A signed webhook's timestamp may be this far from our clock (either way) and still count.
SIGNATURE_TOLERANCE_S = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + HMAC-SHA256(secret, timestamp + "." + body): what the receiver of a signed
    webhook (deploy, retrain) recomputes, and what a retraining pipeline's callback must carry."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_ok(secret: str, timestamp: str, signature: str, body: bytes, *, now: float,
              tolerance: float = SIGNATURE_TOLERANCE_S) -> bool:
    """`signature` is `sign(secret, timestamp, body)` and `timestamp` (unix seconds) is within
    `tolerance` of `now`: a captured request cannot be replayed later."""
    if not (timestamp.isdigit() and len(timestamp) <= 12) or abs(now - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature.strip().encode(), sign(secret, timestamp, body).encode())


def require(value: Any, setting: str) -> Any:
    if value is None or value == "":
        raise ToolError(f"This action is not configured: set {setting}.")
    return value


def allowed(value: str, allow: list[str], what: str, setting: str) -> None:
    if value not in allow:
        raise ToolError(f"{what} '{value}' is not allowed for actions.",
                        hint=f"Allowed: {', '.join(allow) or 'none'} ({setting}).")


def call(ctx: ToolContext, method: str, url: str, *, headers: dict[str, str] | None = None,
         json: Any = None, params: dict[str, str] | None = None, ok: tuple[int, ...] = (200, 201, 202, 204),
         backend: str, content: bytes | None = None) -> Any:
    """One request to a backend; its JSON (or None). Errors name the status, never the headers.
    `content` sends these exact bytes (a signed body) instead of `json`."""
    import httpx

    try:
        resp = httpx.request(method, url, headers=headers, json=json, params=params, content=content,
                             timeout=ctx.settings.action_http_timeout)
    except httpx.TimeoutException:
        raise ToolError(f"{backend} did not answer within {ctx.settings.action_http_timeout:g} s.",
                        hint="Nothing is known to have changed; check the backend before trying again.") from None
    except httpx.HTTPError as exc:
        raise ToolError(f"{backend} is unreachable ({type(exc).__name__}).") from None
    if resp.status_code not in ok:
        raise ToolError(f"{backend} refused: HTTP {resp.status_code} {_reason(resp)}"[:400])
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _reason(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict):
        err = body.get("error") or body.get("message") or body
        if isinstance(err, dict):
            err = err.get("message") or err
        return str(err)[:200]
    return str(body)[:200]
