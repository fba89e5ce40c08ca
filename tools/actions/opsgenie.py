"""Opsgenie alerts (Alert API v2): acknowledge / close are asynchronous: 202 with a requestId,
whose outcome is read at GET /v2/alerts/requests/{requestId}. Auth `Authorization: GenieKey …`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tools.actions.base import ActionIn, ActionOut, ActionSpec, Check, Preview, call, require
from tools.contract import ToolContext, tool
from tools.settings import Settings

BACKEND = "Opsgenie"


class OgIn(ActionIn):
    """Acknowledge or close an Opsgenie alert."""

    alert_id: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$", description="The Opsgenie alert id")
    op: Literal["acknowledge", "close"]
    note: str = Field(default="Through triops", max_length=1000)


def _headers(settings: Settings) -> dict[str, str]:
    key = require(settings.opsgenie_api_key, "TRIOPS_OPSGENIE_KEY")
    return {"Authorization": f"GenieKey {key.get_secret_value()}", "Content-Type": "application/json"}


def check(settings: Settings, args: OgIn) -> None:
    _headers(settings)


def _base(settings: Settings) -> str:
    return settings.opsgenie_api_url.rstrip("/")


def preview(ctx: ToolContext, args: OgIn) -> Preview:
    return Preview(effect=f"{args.op.capitalize()} Opsgenie alert {args.alert_id} (note: “{args.note[:200]}”).",
                   blast_radius="this one alert; " + ("its notifications stop" if args.op == "close"
                                                      else "its escalation stops"))


@tool("opsgenie_alert", "Acknowledge or close an Opsgenie alert.", mutates=True)
def opsgenie_alert(ctx: ToolContext, args: OgIn) -> ActionOut:
    got = call(ctx, "POST", f"{_base(ctx.settings)}/v2/alerts/{args.alert_id}/{args.op}",
               params={"identifierType": "id"}, headers=_headers(ctx.settings),
               json={"user": "triops", "source": "triops", "note": args.note}, ok=(202,), backend=BACKEND)
    rid = (got or {}).get("requestId")
    return ActionOut(summary=f"Opsgenie accepted the {args.op} of alert {args.alert_id} (request {rid}).", ref=rid)


def verify(ctx: ToolContext, args: OgIn, result: dict[str, Any]) -> Check:
    rid = result.get("ref")
    got = call(ctx, "GET", f"{_base(ctx.settings)}/v2/alerts/requests/{rid}", headers=_headers(ctx.settings),
               ok=(200,), backend=BACKEND)
    data = (got or {}).get("data") or {}
    if data.get("isSuccess"):
        return Check(outcome="worked", detail=f"request processed: {data.get('status', '')}".strip())
    return Check(outcome="failed", detail=f"request not processed: {data.get('status', 'unknown')}")


SPECS = [ActionSpec(tool=opsgenie_alert, check=check, preview=preview, verify=verify)]
