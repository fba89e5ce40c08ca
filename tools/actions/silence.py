"""Silence alerts in Alertmanager (API v2): POST /api/v2/silences, expire with
DELETE /api/v2/silence/{id}; the check reads the silence back and the alerts it mutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import Field

from tools.actions.base import ActionIn, ActionOut, ActionSpec, Check, Preview, call, require
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.settings import Settings
from tools.timeutil import now_utc

BACKEND = "Alertmanager"


class Matcher(ActionIn):
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$", description="A label name")
    value: str = Field(max_length=200, description="The label value (a regular expression if is_regex)")
    is_regex: bool = False
    is_equal: bool = True

    def text(self) -> str:
        op = ("=~" if self.is_regex else "=") if self.is_equal else ("!~" if self.is_regex else "!=")
        return f'{self.name}{op}"{self.value}"'


class SilenceIn(ActionIn):
    """Silence the alerts matching all matchers for a number of minutes."""

    matchers: list[Matcher] = Field(min_length=1, max_length=10)
    minutes: int = Field(ge=1, le=10080, description="How long, in minutes")
    comment: str = Field(default="Silenced through triops", max_length=500)
    incident_id: str | None = Field(default=None, max_length=64)


class ExpireIn(ActionIn):
    """Expire (end) an Alertmanager silence now."""

    silence_id: str = Field(pattern=r"^[0-9a-fA-F-]{8,64}$")


def _url(settings: Settings) -> str:
    return str(require(settings.alertmanager_url, "TRIOPS_ALERTMANAGER_URL")).rstrip("/")


def check(settings: Settings, args: SilenceIn) -> None:
    _url(settings)
    lo, hi = settings.silence_min_minutes, settings.silence_max_minutes
    if not lo <= args.minutes <= hi:
        raise ToolError(f"A silence must last {lo}–{hi} minutes, not {args.minutes}.",
                        hint="TRIOPS_SILENCE_MIN_MINUTES / TRIOPS_SILENCE_MAX_MINUTES")
    if not any(m.is_equal and not m.is_regex for m in args.matchers):
        raise ToolError("A silence needs at least one exact matcher (name=\"value\"), so it cannot mute everything.")


def matching_alerts(ctx: ToolContext, matchers: list[Matcher]) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds now that match all `matchers` (GET /api/v2/alerts?filter=…)."""
    import httpx

    try:
        resp = httpx.get(f"{_url(ctx.settings)}/api/v2/alerts", params=[("filter", m.text()) for m in matchers],
                         timeout=ctx.settings.action_http_timeout)
    except httpx.HTTPError as exc:
        raise ToolError(f"{BACKEND} is unreachable ({type(exc).__name__}).") from None
    if resp.status_code != 200:
        raise ToolError(f"{BACKEND} refused: HTTP {resp.status_code} {resp.text[:200]}")
    return list(resp.json() or [])


def preview(ctx: ToolContext, args: SilenceIn) -> Preview:
    ends = now_utc() + timedelta(minutes=args.minutes)
    effect = (f"Silence alerts matching {', '.join(m.text() for m in args.matchers)} for {args.minutes} min "
              f"(until {ends:%Y-%m-%d %H:%M} UTC) in Alertmanager.")
    try:
        alerts = matching_alerts(ctx, args.matchers)
    except ToolError as exc:
        return Preview(effect=effect, blast_radius=f"unknown: {exc.message}")
    names = sorted({a.get("labels", {}).get("alertname", "?") for a in alerts})
    return Preview(effect=effect, blast_radius=f"{len(alerts)} alert(s) firing now would be muted"
                   + (f": {', '.join(names[:5])}" if names else "") + "; new matching alerts too, until it ends.")


@tool("silence_alerts", "Silence the alerts matching label matchers in Alertmanager for N minutes.", mutates=True)
def silence_alerts(ctx: ToolContext, args: SilenceIn) -> ActionOut:
    check(ctx.settings, args)
    start = now_utc()
    body = {
        "matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal} for m in args.matchers],
        "startsAt": start.isoformat().replace("+00:00", "Z"),
        "endsAt": (start + timedelta(minutes=args.minutes)).isoformat().replace("+00:00", "Z"),
        "createdBy": "triops",
        "comment": args.comment + (f" (incident {args.incident_id})" if args.incident_id else ""),
    }
    got = call(ctx, "POST", f"{_url(ctx.settings)}/api/v2/silences", json=body, ok=(200,), backend=BACKEND)
    sid = (got or {}).get("silenceID")
    if not sid:
        raise ToolError(f"{BACKEND} answered without a silenceID.")
    return ActionOut(summary=f"Silence {sid} active for {args.minutes} min.", ref=sid,
                     details={"silence_id": sid, "ends_at": body["endsAt"]})


def verify(ctx: ToolContext, args: SilenceIn, result: dict[str, Any]) -> Check:
    sid = result.get("ref")
    if not sid:
        return Check(outcome="failed", detail="no silence was created")
    got = call(ctx, "GET", f"{_url(ctx.settings)}/api/v2/silence/{sid}", ok=(200,), backend=BACKEND)
    state = ((got or {}).get("status") or {}).get("state")
    if state != "active":
        return Check(outcome="failed", detail=f"silence {sid} is {state or 'gone'}")
    muted = [a for a in matching_alerts(ctx, args.matchers) if sid in (a.get("status") or {}).get("silencedBy", [])]
    if not muted:
        return Check(outcome="no_effect", detail=f"silence {sid} is active but mutes no alert")
    return Check(outcome="worked", detail=f"silence {sid} is active and mutes {len(muted)} alert(s)")


def check_expire(settings: Settings, args: ExpireIn) -> None:
    _url(settings)


def preview_expire(ctx: ToolContext, args: ExpireIn) -> Preview:
    try:
        got = call(ctx, "GET", f"{_url(ctx.settings)}/api/v2/silence/{args.silence_id}", ok=(200,), backend=BACKEND)
    except ToolError as exc:
        return Preview(effect=f"Expire silence {args.silence_id}.", blast_radius=f"unknown: {exc.message}")
    ms = ", ".join(Matcher(name=m["name"], value=m["value"], is_regex=m.get("isRegex", False),
                           is_equal=m.get("isEqual", True)).text() for m in (got or {}).get("matchers", []))
    return Preview(effect=f"Expire silence {args.silence_id} ({ms}) now.",
                   blast_radius="alerts matching it notify again at once")


@tool("expire_silence", "End an Alertmanager silence now.", mutates=True)
def expire_silence(ctx: ToolContext, args: ExpireIn) -> ActionOut:
    call(ctx, "DELETE", f"{_url(ctx.settings)}/api/v2/silence/{args.silence_id}", ok=(200,), backend=BACKEND)
    return ActionOut(summary=f"Silence {args.silence_id} expired.", ref=args.silence_id)


def verify_expire(ctx: ToolContext, args: ExpireIn, result: dict[str, Any]) -> Check:
    got = call(ctx, "GET", f"{_url(ctx.settings)}/api/v2/silence/{args.silence_id}", ok=(200,), backend=BACKEND)
    state = ((got or {}).get("status") or {}).get("state")
    return Check(outcome="worked" if state == "expired" else "failed", detail=f"silence is {state}")


SPECS = [
    ActionSpec(tool=silence_alerts, check=check, preview=preview, verify=verify),
    ActionSpec(tool=expire_silence, check=check_expire, preview=preview_expire, verify=verify_expire),
]
