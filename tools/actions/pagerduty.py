"""PagerDuty incidents (REST API v2): acknowledge / resolve with PUT /incidents/{id}, a note
with POST /incidents/{id}/notes. Auth `Authorization: Token token=…`; `From:` names the user."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from tools.actions.base import ActionIn, ActionOut, ActionSpec, Check, Preview, call, require
from tools.contract import ToolContext, tool
from tools.settings import Settings

BACKEND = "PagerDuty"
ID = r"^[A-Z0-9]{2,32}$"


class PdStatusIn(ActionIn):
    """Acknowledge or resolve a PagerDuty incident."""

    incident_id: str = Field(pattern=ID, description="The PagerDuty incident id (e.g. PT4KHLK)")
    status: Literal["acknowledged", "resolved"]


class PdNoteIn(ActionIn):
    """Add a note to a PagerDuty incident."""

    incident_id: str = Field(pattern=ID)
    content: str = Field(min_length=1, max_length=2000)


def _headers(settings: Settings) -> dict[str, str]:
    token = require(settings.pagerduty_api_token, "TRIOPS_PAGERDUTY_TOKEN")
    return {"Authorization": f"Token token={token.get_secret_value()}",
            "Accept": "application/vnd.pagerduty+json;version=2", "Content-Type": "application/json",
            "From": str(require(settings.pagerduty_from, "TRIOPS_PAGERDUTY_FROM"))}


def _base(settings: Settings) -> str:
    return settings.pagerduty_api_url.rstrip("/")


def check(settings: Settings, args: Any) -> None:
    _headers(settings)


def _incident(ctx: ToolContext, iid: str) -> dict[str, Any]:
    got = call(ctx, "GET", f"{_base(ctx.settings)}/incidents/{iid}", headers=_headers(ctx.settings), ok=(200,), backend=BACKEND)
    return dict((got or {}).get("incident") or {})


def preview_status(ctx: ToolContext, args: PdStatusIn) -> Preview:
    from tools.errors import ToolError

    try:
        inc = _incident(ctx, args.incident_id)
        now = f"'{inc.get('title', '?')}' ({inc.get('status', '?')}, service {((inc.get('service') or {}).get('summary')) or '?'})"
    except ToolError as exc:
        now = f"(unknown now: {exc.message})"
    return Preview(effect=f"Set PagerDuty incident {args.incident_id} {now} to {args.status}.",
                   blast_radius="this one incident; " + ("escalation stops" if args.status == "resolved"
                                                         else "escalation pauses for the acknowledgement timeout"))


@tool("pagerduty_incident_status", "Acknowledge or resolve a PagerDuty incident.", mutates=True)
def pagerduty_incident_status(ctx: ToolContext, args: PdStatusIn) -> ActionOut:
    body = {"incident": {"type": "incident_reference", "status": args.status}}
    got = call(ctx, "PUT", f"{_base(ctx.settings)}/incidents/{args.incident_id}", headers=_headers(ctx.settings),
               json=body, ok=(200,), backend=BACKEND)
    status = ((got or {}).get("incident") or {}).get("status", "?")
    return ActionOut(summary=f"PagerDuty incident {args.incident_id} is {status}.", ref=args.incident_id,
                     details={"status": status})


def verify_status(ctx: ToolContext, args: PdStatusIn, result: dict[str, Any]) -> Check:
    status = _incident(ctx, args.incident_id).get("status")
    if status == args.status or (args.status == "acknowledged" and status == "resolved"):
        return Check(outcome="worked", detail=f"incident is {status}")
    return Check(outcome="no_effect", detail=f"incident is {status}")


def preview_note(ctx: ToolContext, args: PdNoteIn) -> Preview:
    return Preview(effect=f"Add a note to PagerDuty incident {args.incident_id}: “{args.content[:200]}”",
                   blast_radius="this one incident's timeline; nothing else changes")


@tool("pagerduty_add_note", "Add a note to a PagerDuty incident.", mutates=True)
def pagerduty_add_note(ctx: ToolContext, args: PdNoteIn) -> ActionOut:
    got = call(ctx, "POST", f"{_base(ctx.settings)}/incidents/{args.incident_id}/notes", headers=_headers(ctx.settings),
               json={"note": {"content": args.content}}, ok=(200, 201), backend=BACKEND)
    nid = ((got or {}).get("note") or {}).get("id")
    return ActionOut(summary=f"Note {nid} added to PagerDuty incident {args.incident_id}.", ref=nid)


def verify_note(ctx: ToolContext, args: PdNoteIn, result: dict[str, Any]) -> Check:
    got = call(ctx, "GET", f"{_base(ctx.settings)}/incidents/{args.incident_id}/notes", headers=_headers(ctx.settings),
               ok=(200,), backend=BACKEND)
    ids = {n.get("id") for n in (got or {}).get("notes", [])}
    return Check(outcome="worked" if result.get("ref") in ids else "failed",
                 detail="note is on the incident" if result.get("ref") in ids else "note not found")


SPECS = [
    ActionSpec(tool=pagerduty_incident_status, check=check, preview=preview_status, verify=verify_status),
    ActionSpec(tool=pagerduty_add_note, check=check, preview=preview_note, verify=verify_note),
]
