"""The `dora_metrics` tool: one scope, one window, compared with the window before it."""

from __future__ import annotations

from tools.catalog import ScopeKind, resolve_scope
from tools.contract import ToolContext, tool
from tools.dora import metrics
from tools.dora.levels import LEVEL_SOURCE
from tools.dora.models import DoraPeriod, DoraQuery, DoraReport
from tools.dora.query import PeriodData, fetch_periods
from tools.errors import ToolError
from tools.store.delivery import known_services, known_teams
from tools.timeutil import Window, format_window, parse_window, utc


def _period(window: Window, data: PeriodData, as_of: float) -> DoraPeriod:
    return DoraPeriod(
        window=window,
        deployment_frequency=metrics.deployment_frequency(
            data.deployments, data.deploy_days, window.days
        ),
        lead_time=metrics.lead_time(data.lead_seconds, data.commits_without_time),
        change_fail_rate=metrics.change_fail_rate(data.deployments, data.failures.ids).model_copy(
            update={"from_confirmed_incidents": data.failures.confirmed}),
        recovery_time=metrics.recovery_time(data.failures, as_of),
        rework_rate=metrics.rework_rate(data.deployments, data.rollbacks, data.hotfixes),
    )


@tool(
    "dora_metrics",
    "DORA delivery metrics (deployment frequency, change lead time, change fail rate, "
    "failed deployment recovery time, deployment rework rate) for a service, a team or the "
    "whole org over a window, each compared with the previous window and given its DORA level.",
)
def dora_metrics(ctx: ToolContext, args: DoraQuery) -> DoraReport:
    length = parse_window(args.window)
    end = utc(args.as_of) if args.as_of else ctx.now()
    window = Window.ending(end, length)
    as_of = end.timestamp()
    kind: ScopeKind | None = "service" if args.service else "team" if args.team else None
    word = args.service or args.team or args.scope
    with ctx.store.engine.connect() as conn:
        try:
            scope = resolve_scope(word, ctx.catalog, kind=kind)
        except ToolError:  # not in the catalog: services and teams seen in the store count too
            scope = resolve_scope(
                word,
                ctx.catalog,
                kind=kind,
                known_services=known_services(conn),
                known_teams=known_teams(conn),
            )
        prev_w = window.previous()
        cur, prev = fetch_periods(
            conn,
            scope,
            [(window.start.timestamp(), as_of), (prev_w.start.timestamp(), prev_w.end.timestamp())],
            as_of,
        )
    return DoraReport(
        scope=scope,
        window=format_window(length),
        current=_period(window, cur, as_of),
        previous=_period(prev_w, prev, as_of),
        services=cur.services,
        level_source=LEVEL_SOURCE,
    )
