"""Alert incidents: the list, one incident, and the noise figures."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError

ORDER = 20
STATES = {"open", "resolved", "all"}


def parse_alerts(words: list[str]) -> dict[str, Any]:
    service: str | None = None
    state = "open"
    for word in words:
        if word.lower() in STATES:
            state = word.lower()
        elif service is None:
            service = word
        else:
            raise ToolError(f"I did not understand '{word}'.", hint="Usage: alerts [service] [open|resolved|all]")
    return {"state": state, **({"service": service} if service else {})}


def parse_stats(words: list[str]) -> dict[str, Any]:
    from tools.timeutil import looks_like_window  # pydantic: not at import

    return {"window": next((w for w in words if looks_like_window(w)), "7d")}


def parse_incident(words: list[str]) -> dict[str, Any]:
    if not words:
        raise ToolError("Which incident?", hint="Usage: incident ID (see `alerts all` for ids)")
    return {"id": words[0]}


CAPABILITIES = [
    Capability(
        name="alerts_list",
        tool="tools.alerts.tool:alerts_list",
        input="tools.alerts.queries:AlertsQuery",
        summary="Alert incidents (correlated alerts with probable cause and suspect change)",
        verbs=("alerts", "incidents"),
        usage="[service] [open|resolved|all]",
        examples=("alerts", "alerts checkout all"),
        parse=parse_alerts,
        render="bot.render.alerts:LIST",
        cli="alerts list",
        cli_args=("service",),
        intents="alerts.yaml",
        module=__file__,
        status="Checking the open incidents…",
    ),
    Capability(
        name="alert_stats",
        tool="tools.alerts.tool:alert_stats",
        input="tools.alerts.queries:StatsQuery",
        summary="Alert noise: notifications, dedup and correlation compression, time to ack and resolve",
        verbs=("alerts stats", "alerts noise", "incidents stats"),
        usage="[window]",
        examples=("alerts stats 7d",),
        parse=parse_stats,
        render="bot.render.alerts:STATS",
        cli="alerts stats",
        intents="alert_noise.yaml",
        module=__file__,
        status="Counting the alert noise…",
    ),
    Capability(
        name="incident_get",
        tool="tools.alerts.tool:incident_get",
        input="tools.alerts.queries:IncidentQuery",
        summary="One alert incident: its alerts, probable causes with evidence, suspect change",
        verbs=("incident",),
        usage="ID",
        examples=("incident inc-3f2a9c01b2d4",),
        parse=parse_incident,
        render="bot.render.alerts:DETAIL",
        cli="alerts show",
        cli_args=("id",),
        intents="incident.yaml",
        module=__file__,
        status="Reading the incident…",
    ),
]
