"""Agent/command tools over the stored incidents: list, one incident, noise figures."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.engine import Connection

from tools.alerts.queries import AlertsQuery, IncidentQuery, StatsQuery
from tools.alerts.stats import NoiseStats, noise_stats
from tools.alerts.summary import AlertBrief, IncidentSummary, brief, runbook_candidates
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.store import alerts as alert_store
from tools.store import parked as parked_store
from tools.store.delivery import known_services
from tools.timeutil import Window, format_window, from_epoch, parse_window, utc


class IncidentList(BaseModel):
    service: str | None = None
    state: str
    incidents: list[IncidentSummary] = Field(default_factory=list)




class IncidentAction(BaseModel):
    action: str
    user: str
    surface: str
    at: datetime


class IncidentDetail(BaseModel):
    incident: IncidentSummary
    alerts: list[AlertBrief] = Field(default_factory=list)
    actions: list[IncidentAction] = Field(default_factory=list)
    runbook_alert: AlertBrief | None = Field(
        default=None, description="The alert to look a runbook up for (on the probable cause)"
    )




@tool(
    "alerts_list",
    "Alert incidents (correlated groups of alerts), newest first: open ones by default, or "
    "all/resolved; optionally only those touching one service. Each has its severity, "
    "services, alert count, probable cause and suspect change.",
)
def alerts_list(ctx: ToolContext, args: AlertsQuery) -> IncidentList:
    with ctx.store.engine.connect() as conn:
        service = _known_service(conn, ctx, args.service) if args.service else None
        rows = alert_store.list_incidents(conn, service=service, status=args.state, limit=args.limit)
    return IncidentList(service=service, state=args.state, incidents=rows)


def _known_service(conn: Connection, ctx: ToolContext, service: str) -> str:
    """The service's stored spelling. Known: in the catalog, or seen in the store (its
    deployments, like dora_metrics, or its alerts), so every command knows the same names."""
    catalog = set(ctx.catalog.service_names)
    if service in catalog:
        return service
    known = catalog | set(known_services(conn)) | set(alert_services(conn))
    by_lower = {s.lower(): s for s in known}
    if service.lower() in by_lower:
        return by_lower[service.lower()]
    if not known:
        return service
    raise ToolError(f"I don't know a service called '{service}'.", choices=sorted(known))


def alert_services(conn: Connection) -> list[str]:
    """Services named by stored alerts (an indexed column)."""
    col = alert_store.alerts.c.service
    return [r[0] for r in conn.execute(select(col).where(col.is_not(None)).distinct())]


@tool(
    "incident_get",
    "One alert incident with its member alerts, the ranked probable causes with their "
    "evidence, the suspect change (deployment or model drift) and who acknowledged/resolved it.",
)
def incident_get(ctx: ToolContext, args: IncidentQuery) -> IncidentDetail:
    ident = args.id.strip()
    with ctx.store.engine.connect() as conn:
        found = alert_store.get_incident(conn, ident)
        if found is None:
            matches = alert_store.incident_ids_like(conn, ident)
            if len(matches) == 1:
                ident = matches[0]
                found = alert_store.get_incident(conn, ident)
            else:
                raise ToolError(
                    f"No alert incident '{args.id}'." if not matches else f"'{args.id}' matches several incidents.",
                    hint="Use `/triops alerts all` to list incident ids.",
                    choices=matches,
                )
        assert found is not None
        summary, members = found
        actions = alert_store.actions_of(conn, ident)
    flapping = set(summary.flapping)
    briefs = [brief(a, flapping=a.name in flapping) for a in members]
    candidates = runbook_candidates(summary, briefs, limit=1)
    return IncidentDetail(
        incident=summary,
        alerts=briefs,
        runbook_alert=candidates[0] if candidates else None,
        actions=[
            IncidentAction(action=a["action"], user=a["user"], surface=a["surface"], at=from_epoch(a["at"]))
            for a in actions
        ],
    )


@tool(
    "alert_stats",
    "Alert noise figures over a window: notifications, distinct alerts, incidents, dedup "
    "ratio, compression (1 - incidents/alerts), and median/p90 time to acknowledge and resolve.",
)
def alert_stats(ctx: ToolContext, args: StatsQuery) -> NoiseStats:
    length = parse_window(args.window)
    window = Window.ending(utc(args.as_of) if args.as_of else ctx.now(), length)
    with ctx.store.engine.connect() as conn:
        a, i = alert_store.noise_rows(conn, window.start.timestamp(), window.end.timestamp())
        parked = parked_store.count_parked(conn, window.start.timestamp(), window.end.timestamp())
    from tools.actions.outcomes import stats_lines

    stats = noise_stats(format_window(length), a, i)
    remediation = stats_lines(ctx.store, since=window.start.timestamp(), until=window.end.timestamp(),
                              incidents=stats.incidents)
    return stats.model_copy(update={"parked": parked, "remediation": remediation})


TOOLS = [alerts_list, incident_get, alert_stats]
