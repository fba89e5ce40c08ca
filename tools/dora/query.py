"""Fetch one window's DORA inputs from the store: aggregates in SQL, arrays for percentiles.

Only what SQL cannot do cheaply (percentiles) comes back as rows: the lead time of each
commit and the (few) failed deployments. Events after `as_of` are ignored, so a report
"as of" a past time reads the same later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from tools.catalog import Scope
from tools.dora.metrics import DAY_S, Failure
from tools.store.delivery import PRODUCTION, commit_leads, deployments, incidents


@dataclass
class PeriodData:
    deployments: int
    rollbacks: int
    hotfixes: int
    deploy_days: np.ndarray
    lead_seconds: np.ndarray
    commits_without_time: int
    failures: list[Failure]
    services: list[str]


def _scope_filter(scope: Scope, table=deployments) -> ColumnElement[bool] | None:
    if scope.kind == "org":
        return None
    if scope.kind == "team":
        members = list(scope.services or [])
        cond = deployments.c.team == scope.name
        return or_(cond, deployments.c.service.in_(members)) if members else cond
    return table.c.service.in_(list(scope.services or [scope.name]))


def _floor_days(conn: Connection, end: float, col) -> ColumnElement[int]:
    expr = (end - col) / DAY_S
    if conn.dialect.name == "postgresql":
        return cast(func.floor(expr), Integer)
    return cast(expr, Integer)  # SQLite truncates toward zero; the value is never negative


def fetch_period(conn: Connection, scope: Scope, start: float, end: float, as_of: float) -> PeriodData:
    d = deployments
    in_window = and_(
        d.c.environment == PRODUCTION,
        d.c.status == "success",
        d.c.finished_at >= start,
        d.c.finished_at < end,
    )
    scope_cond = _scope_filter(scope)
    where = in_window if scope_cond is None else and_(in_window, scope_cond)

    counts = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((d.c.kind == "rollback", 1), else_=0)), 0),
            func.coalesce(func.sum(case((d.c.kind == "hotfix", 1), else_=0)), 0),
        ).where(where)
    ).one()
    day_col = _floor_days(conn, end, d.c.finished_at).label("day")
    days = np.fromiter(
        (r[0] for r in conn.execute(select(day_col).where(where).distinct())), dtype=np.int64
    )
    services = [r[0] for r in conn.execute(select(d.c.service).where(where).distinct())]

    lead_seconds, without_time = _lead_times(conn, scope, start, end)
    failures = _failures(conn, where, as_of)
    return PeriodData(
        deployments=int(counts[0]),
        rollbacks=int(counts[1]),
        hotfixes=int(counts[2]),
        deploy_days=np.sort(days),
        lead_seconds=lead_seconds,
        commits_without_time=without_time,
        failures=failures,
        services=sorted(services),
    )


def _lead_times(conn: Connection, scope: Scope, start: float, end: float) -> tuple[np.ndarray, int]:
    c = commit_leads
    cond = and_(c.c.deployed_at >= start, c.c.deployed_at < end)
    q = select(c.c.deployed_at - c.c.committed_at).where(cond)
    if scope.kind == "service":
        q = q.where(c.c.service.in_(list(scope.services or [scope.name])))
    elif scope.kind == "team":
        q = q.join(deployments, deployments.c.id == c.c.deployment_id).where(_scope_filter(scope))
    values = [r[0] for r in conn.execute(q)]
    leads = np.array([v for v in values if v is not None], dtype=float)
    return leads, len(values) - leads.size


def _failures(conn: Connection, where: ColumnElement[bool], as_of: float) -> list[Failure]:
    d = deployments
    r = deployments.alias("remediation")
    rem = (
        select(
            r.c.remediates.label("id"),
            func.min(case((r.c.status == "success", r.c.finished_at))).label("remediated_at"),
        )
        .where(r.c.remediates.is_not(None), r.c.finished_at <= as_of)
        .group_by(r.c.remediates)
        .subquery()
    )
    resolved_in_time = and_(incidents.c.resolved_at.is_not(None), incidents.c.resolved_at <= as_of)
    inc = (
        select(
            incidents.c.caused_by_deployment.label("id"),
            func.count().label("n"),
            func.sum(case((resolved_in_time, 0), else_=1)).label("open"),
            func.max(case((resolved_in_time, incidents.c.resolved_at))).label("resolved_at"),
        )
        .where(incidents.c.caused_by_deployment.is_not(None), incidents.c.opened_at <= as_of)
        .group_by(incidents.c.caused_by_deployment)
        .subquery()
    )
    q = (
        select(
            d.c.id,
            d.c.service,
            d.c.finished_at,
            rem.c.remediated_at,
            inc.c.n,
            inc.c.open,
            inc.c.resolved_at,
        )
        .select_from(d.outerjoin(rem, rem.c.id == d.c.id).outerjoin(inc, inc.c.id == d.c.id))
        .where(where, or_(rem.c.id.is_not(None), inc.c.id.is_not(None)))
        .order_by(d.c.finished_at)
    )
    return [
        Failure(
            deployment_id=row[0],
            service=row[1],
            finished_at=row[2],
            remediated_at=row[3],
            incidents=int(row[4] or 0),
            incidents_open=int(row[5] or 0),
            incidents_resolved_at=row[6],
        )
        for row in conn.execute(q)
    ]
