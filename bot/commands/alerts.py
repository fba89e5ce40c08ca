"""`/triops alerts [service] [open|resolved|all]`, `/triops alerts stats [window]`, `/triops incident ID`."""

from __future__ import annotations

from bot.commands.base import Command, Reply, run_tool
from bot.runtime import Runtime
from tools.timeutil import looks_like_window

STATES = {"open", "resolved", "all"}


def handle_alerts(rt: Runtime, args: list[str]) -> Reply:
    if args and args[0].lower() in {"stats", "noise"}:
        window = next((a for a in args[1:] if looks_like_window(a)), "7d")
        return run_tool(rt, "alert_stats", {"window": window})
    service: str | None = None
    state = "open"
    for word in args:
        if word.lower() in STATES:
            state = word.lower()
        elif service is None:
            service = word
        else:
            return Reply(
                error={"error": f"I did not understand '{word}'.", "hint": "Usage: alerts [service] [open|resolved|all]", "choices": []},
                ephemeral=True,
            )
    params: dict = {"state": state}
    if service:
        params["service"] = service
    return run_tool(rt, "alerts_list", params)


def handle_incident(rt: Runtime, args: list[str]) -> Reply:
    if not args:
        return Reply(
            error={"error": "Which incident?", "hint": "Usage: incident ID (see `alerts all` for ids)", "choices": []},
            ephemeral=True,
        )
    return run_tool(rt, "incident_get", {"id": args[0]})


COMMANDS = [
    Command(
        verb="alerts",
        usage="alerts [service] [open|resolved|all] | alerts stats [window]",
        summary="Alert incidents (correlated alerts with probable cause and suspect change), or noise figures",
        handler=handle_alerts,
        aliases=("incidents",),
        examples=("alerts", "alerts checkout all", "alerts stats 7d"),
    ),
    Command(
        verb="incident",
        usage="incident ID",
        summary="One alert incident: its alerts, probable causes with evidence, suspect change",
        handler=handle_incident,
        examples=("incident inc-3f2a9c01b2d4",),
    ),
]
