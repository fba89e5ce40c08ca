"""Fetch DORA inputs for windows of one scope from the store: aggregates in SQL, arrays for percentiles.

Only what SQL cannot do cheaply (percentiles) comes back as rows: the lead time of each
commit and the (few) failed deployments. Events after `as_of` are ignored, so a report
"as of" a past time reads the same later.

Definitions (the bench's pandas version implements the same ones independently):
- the window's deployments: successful production deployments finished in [start, end);
- a deployment failed when an incident opened by `as_of` names it (`caused_by_deployment`)
  or a deployment finished no earlier than it and by `as_of` names it (`remediates`);
- it recovered at the earlier of its first successful remediation's finish and the last
  resolution of its incidents, once all of them are resolved by `as_of`.

Lead times are taken to the millisecond (commit_leads.lead_ms, floor of the difference).

Cost (bench/dora.py: a year of 1M deployments, org-wide, 90 days + the 90 before): every
query reads an index that covers it (tools/store/delivery.py); deploy-days and services are
found by one index seek per day / per service instead of grouping the window's rows; the
failures come from `failure_signals` (kept at ingest, like commit_leads), read once for
both windows; the lead times (~10^6 values) leave SQLite as one
`group_concat` string parsed by numpy rather than as 10^6 Python rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from tools.catalog import Scope
from tools.dora.metrics import DAY_S, Failures
from tools.store.delivery import (
    CONFIRMED_PREFIX,
    PRODUCTION,
    commit_leads,
    deployments,
    failure_signals,
)


@dataclass
class PeriodData:
    deployments: int
    rollbacks: int
    hotfixes: int
    deploy_days: np.ndarray
    lead_seconds: np.ndarray
    commits_without_time: int
    failures: Failures
    services: list[str]


def _scope_filter(scope: Scope) -> ColumnElement[bool] | None:
    if scope.kind == "org":
        return None
    if scope.kind == "team":
        return _team_filter(scope)
    return deployments.c.service.in_(scope.service_names)


def _team_filter(scope: Scope) -> ColumnElement[bool]:
    """A team's deployments: tagged with the team, or of a service the catalog gives it."""
    members = list(scope.services or [])
    cond = deployments.c.team == scope.name
    return or_(cond, deployments.c.service.in_(members)) if members else cond


def _in_window(scope: Scope, start: float, end: float) -> ColumnElement[bool]:
    d = deployments
    cond = and_(
        d.c.environment == PRODUCTION,
        d.c.finished_at >= start,
        d.c.finished_at < end,
        d.c.status == "success",
    )
    scope_cond = _scope_filter(scope)
    return cond if scope_cond is None else and_(cond, scope_cond)


def fetch_period(
    conn: Connection, scope: Scope, start: float, end: float, as_of: float
) -> PeriodData:
    return fetch_periods(conn, scope, [(start, end)], as_of)[0]


def fetch_periods(
    conn: Connection, scope: Scope, bounds: list[tuple[float, float]], as_of: float
) -> list[PeriodData]:
    """Several windows of one scope (e.g. the current one and the one before)."""
    periods = []
    for start, end in bounds:
        count, rollbacks, hotfixes = _counts(conn, _in_window(scope, start, end))
        lead_seconds, without_time = _lead_times(conn, scope, start, end)
        periods.append(
            PeriodData(
                deployments=count,
                rollbacks=rollbacks,
                hotfixes=hotfixes,
                deploy_days=_deploy_days(conn, scope, start, end),
                lead_seconds=lead_seconds,
                commits_without_time=without_time,
                failures=_failures(conn, scope, start, end, as_of),
                services=_services(conn, scope, start, end),
            )
        )
    return periods


def _counts(conn: Connection, where: ColumnElement[bool]) -> tuple[int, int, int]:
    """All deployments of the window (one covering range) and, by seeks on kind, the rework."""
    d = deployments
    total = conn.execute(select(func.count()).where(where)).scalar_one()
    by_kind: dict[str, int] = {
        kind: int(n)
        for kind, n in conn.execute(
            select(d.c.kind, func.count())
            .where(where, d.c.kind.in_(["rollback", "hotfix"]))
            .group_by(d.c.kind)
        )
    }
    return int(total), int(by_kind.get("rollback", 0)), int(by_kind.get("hotfix", 0))


def _deploy_days(conn: Connection, scope: Scope, start: float, end: float) -> np.ndarray:
    """Day offsets back from `end` with a deployment: one EXISTS seek per day of the window.

    Day k is [end-(k+1)d, end-k·d), as metrics.day_offsets; the window clips the last one.
    """
    if conn.dialect.name == "postgresql":  # plans the per-day seeks poorly; hashes well
        day_expr = cast(func.ceil((end - deployments.c.finished_at) / DAY_S), Integer) - 1
        q = select(day_expr).where(_in_window(scope, start, end)).distinct()
        return np.array(sorted(r[0] for r in conn.execute(q)), dtype=np.int64)
    n_days = int(np.ceil((end - start) / DAY_S))
    day = select(cast(literal(0), Integer).label("k")).cte("days", recursive=True)
    day = day.union_all(select((day.c.k + 1).label("k")).where(day.c.k + 1 < n_days))
    d = deployments
    lo = end - (day.c.k + 1) * DAY_S
    conds = [
        d.c.environment == PRODUCTION,
        d.c.finished_at >= case((lo < start, start), else_=lo),
        d.c.finished_at < end - day.c.k * DAY_S,
        d.c.status == "success",
    ]
    scope_cond = _scope_filter(scope)
    if scope_cond is not None:
        conds.append(scope_cond)
    has_deployment = select(literal(1)).where(*conds).exists()
    offsets = [r[0] for r in conn.execute(select(day.c.k).where(has_deployment))]
    return np.array(sorted(offsets), dtype=np.int64)


def _services(conn: Connection, scope: Scope, start: float, end: float) -> list[str]:
    """Services with a deployment in the window: a loose index scan, one seek per service."""
    d = deployments
    if scope.kind == "service":
        names = scope.service_names
        return sorted(
            name
            for name in names
            if conn.execute(
                select(exists().where(_in_window(scope, start, end), d.c.service == name))
            ).scalar()
        )
    inner = deployments.alias("later")
    svc = select(func.min(d.c.service).label("name")).cte("services", recursive=True)
    svc = svc.union_all(
        select(
            select(func.min(inner.c.service)).where(inner.c.service > svc.c.name).scalar_subquery()
        ).where(svc.c.name.is_not(None))
    )
    seen = exists().where(_in_window(scope, start, end), d.c.service == svc.c.name)
    return sorted(
        r[0] for r in conn.execute(select(svc.c.name).where(svc.c.name.is_not(None), seen))
    )


def _lead_times(conn: Connection, scope: Scope, start: float, end: float) -> tuple[np.ndarray, int]:
    c = commit_leads
    in_range = and_(c.c.deployed_at >= start, c.c.deployed_at < end)

    def scoped(q: Select) -> Select:
        if scope.kind == "service":
            return q.where(c.c.service.in_(scope.service_names))
        if scope.kind == "team":
            return q.join(deployments, deployments.c.id == c.c.deployment_id).where(
                _team_filter(scope)
            )
        return q

    untimed = func.coalesce(func.sum(case((c.c.lead_ms.is_(None), 1), else_=0)), 0)
    if conn.dialect.name == "sqlite":
        # one scan: the values as one string (group_concat skips the NULLs) and the count
        # of commits without a time
        text, without_time = conn.execute(
            scoped(select(func.group_concat(c.c.lead_ms), untimed).where(in_range))
        ).one()
        values = np.fromstring(text, sep=",", dtype=np.int64) if text else np.empty(0, np.int64)
    else:
        q = scoped(select(c.c.lead_ms).where(in_range, c.c.lead_ms.is_not(None)))
        values = np.fromiter((r[0] for r in conn.execute(q)), dtype=np.int64)
        without_time = conn.execute(
            scoped(select(func.count()).select_from(c).where(in_range, c.c.lead_ms.is_(None)))
        ).scalar_one()
    return values / 1000.0, int(without_time)


def _failures(conn: Connection, scope: Scope, start: float, end: float, as_of: float) -> Failures:
    """Deployments in [start, end) named by a later remediation or by an incident.

    Reads `failure_signals` (kept at ingest with the named deployment's finish, service,
    team and standing): one covering range, grouped per deployment in SQL, so only the
    failures (not every signal) come back, with their recovery time already decided.
    """
    fs = failure_signals
    is_rem = fs.c.source == "remediation"
    resolved = and_(fs.c.resolved_at.is_not(None), fs.c.resolved_at <= as_of)
    conds = [
        fs.c.shipped == true(),
        fs.c.finished_at >= start,
        fs.c.finished_at < end,
        fs.c.at <= as_of,
        or_(~is_rem, fs.c.at >= fs.c.finished_at),  # a remediation comes after what it fixes
    ]
    if scope.kind == "service":
        conds.append(fs.c.service.in_(scope.service_names))
    elif scope.kind == "team":
        members = list(scope.services or [])
        team = fs.c.team == scope.name
        conds.append(or_(team, fs.c.service.in_(members)) if members else team)
    per = (
        select(
            fs.c.deployment_id.label("id"),
            func.min(fs.c.service).label("service"),
            fs.c.finished_at,
            func.min(case((and_(is_rem, fs.c.status == "success"), fs.c.at))).label("remediated"),
            func.sum(case((is_rem, 0), else_=1)).label("incidents"),
            func.sum(case((is_rem, 0), (resolved, 0), else_=1)).label("still_open"),
            func.max(case((and_(~is_rem, resolved), fs.c.resolved_at))).label("resolved"),
            func.sum(case((and_(~is_rem, fs.c.source_id.like(CONFIRMED_PREFIX + "%")), 1), else_=0)).label("confirmed"),
        )
        .where(*conds)
        # finished_at depends on deployment_id; leading with it follows the index order
        .group_by(fs.c.finished_at, fs.c.deployment_id)
        .subquery()
    )
    # incidents count only once all of them are resolved; then the earlier of the two
    by_incidents = case((and_(per.c.incidents > 0, per.c.still_open == 0), per.c.resolved))
    recovered = case(
        (per.c.remediated.is_(None), by_incidents),
        (by_incidents.is_(None), per.c.remediated),
        (per.c.remediated < by_incidents, per.c.remediated),
        else_=by_incidents,
    )
    rows = _raw_rows(conn, select(per.c.id, per.c.service, per.c.finished_at, recovered, per.c.confirmed))
    return Failures(
        ids=[r[0] for r in rows],
        services=[r[1] for r in rows],
        finished_at=np.array([r[2] for r in rows], dtype=float),
        recovered_at=np.array([r[3] for r in rows], dtype=float),  # None -> NaN
        confirmed=sum(1 for r in rows if r[4]),
    )


def _raw_rows(conn: Connection, q: Select) -> list[tuple]:
    """Rows as plain tuples from the DB-API cursor (no Row objects for 10^4–10^5 rows)."""
    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Sequence[Any] | Mapping[str, Any]
    if compiled.positional:
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    else:
        params = compiled.params
    cursor = conn.connection.cursor()
    try:
        cursor.execute(str(compiled), params)
        return list(cursor.fetchall())
    finally:
        cursor.close()
