"""Deployments, their commits and incidents; plus `commit_leads`, kept in step at ingest.

`commit_leads` holds, per (service, sha), the first successful production deployment that
contains the commit. Keeping it at write time (as DevLake materialises its PR metrics) is
what lets the lead-time query read one indexed range instead of grouping all history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.store.base import Epoch, metadata, upsert
from tools.timeutil import from_epoch, to_epoch

PRODUCTION = "production"

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("service", String(128), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("team", String(128)),
    Column("version", String(128)),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("remediates", String(200)),
    Column("started_at", Epoch),
    Column("finished_at", Epoch, nullable=False),
    Column("commit_count", Integer, nullable=False, default=0),
    # Covering indexes for the DORA window scans (org-wide and per service): the query
    # reads no table row. Column order: equality, range, then the carried columns.
    Index(
        "ix_deployments_window",
        "environment",
        "finished_at",
        "status",
        "kind",
        "service",
        "team",
        "id",
    ),
    Index(
        "ix_deployments_service_window",
        "service",
        "environment",
        "finished_at",
        "status",
        "kind",
        "team",
        "id",
    ),
    # rollbacks and hotfixes of a window by a seek on kind, not a pass over the window
    Index("ix_deployments_kind", "environment", "kind", "finished_at", "status", "service", "team"),
    Index("ix_deployments_remediates", "remediates"),
    Index(
        "ix_deployments_remediations",
        "finished_at",
        "remediates",
        "status",
        sqlite_where=text("remediates IS NOT NULL"),
        postgresql_where=text("remediates IS NOT NULL"),
    ),
)

deployment_commits = Table(
    "deployment_commits",
    metadata,
    Column("deployment_id", String(200), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("committed_at", Epoch),
    PrimaryKeyConstraint("deployment_id", "sha"),
    Index("ix_deployment_commits_sha", "sha"),
)

commit_leads = Table(
    "commit_leads",
    metadata,
    Column("service", String(128), nullable=False),
    Column("sha", String(64), nullable=False),
    Column("committed_at", Epoch),
    Column("deployed_at", Epoch, nullable=False),
    Column("deployment_id", String(200), nullable=False),
    # floor((deployed_at - committed_at) * 1000): the lead time to the millisecond, NULL
    # without committed_at; read as is by the DORA query (no arithmetic per row there)
    Column("lead_ms", BigInteger),
    PrimaryKeyConstraint("service", "sha"),
    Index("ix_commit_leads_window", "deployed_at", "lead_ms"),  # covering: lead times
    Index("ix_commit_leads_service_window", "service", "deployed_at", "lead_ms"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("service", String(128), nullable=False, index=True),
    Column("opened_at", Epoch, nullable=False),
    Column("resolved_at", Epoch),
    Column("caused_by_deployment", String(200), index=True),
    Column("severity", String(32)),
    Column("title", String(500)),
    # opened_at first, covering what the DORA failure join reads
    Index("ix_incidents_opened", "opened_at", "caused_by_deployment", "resolved_at"),
)

# What makes a deployment "failed" for DORA, kept at ingest like commit_leads: one row per
# remediation (a deployment naming another in `remediates`) and per incident naming a
# deployment, with the named deployment's service, team, finish and whether it counts
# (successful, production) copied in. The change-fail and recovery queries then read one
# indexed range instead of probing deployments by id for every remediation and incident.
failure_signals = Table(
    "failure_signals",
    metadata,
    Column("source", String(16), nullable=False),  # "remediation" | "incident"
    Column("source_id", String(200), nullable=False),
    Column("deployment_id", String(200), nullable=False),  # the deployment it names
    Column("at", Epoch, nullable=False),  # remediation finished / incident opened
    Column("status", String(16)),  # the remediation's status
    Column("resolved_at", Epoch),  # the incident's resolution
    # copied from the named deployment; NULL / false until that deployment is ingested
    Column("service", String(128)),
    Column("team", String(128)),
    Column("finished_at", Epoch),
    Column("shipped", Boolean, nullable=False, default=False),
    PrimaryKeyConstraint("source", "source_id"),
    Index("ix_failure_signals_deployment", "deployment_id"),
    # covering, and ordered by (finished_at, deployment_id) after the equality on shipped,
    # so the DORA query groups a window's signals per deployment without sorting them
    Index(
        "ix_failure_signals_by_deployment",
        "shipped",
        "finished_at",
        "deployment_id",
        "at",
        "source",
        "status",
        "resolved_at",
        "service",
        "team",
    ),
)


_IN_CHUNK = 900


def upsert_deployments(conn: Connection, events: Sequence[DeploymentEvent]) -> None:
    """Store deployments (the later version of an id wins) and keep commit_leads right."""
    if not events:
        return
    latest = {e.id: e for e in events}  # within a batch, the later line wins too
    events = list(latest.values())
    ids = list(latest)
    old_keys = _commit_keys_of(conn, ids)
    upsert(
        conn,
        deployments,
        [
            {
                "id": e.id,
                "service": e.service,
                "environment": e.environment,
                "team": e.team,
                "version": e.version,
                "kind": e.kind,
                "status": e.status,
                "remediates": e.remediates,
                "started_at": to_epoch(e.started_at),
                "finished_at": to_epoch(e.finished_at),
                "commit_count": len({c.sha for c in e.commits}),
            }
            for e in events
        ],
        ["id"],
    )
    for chunk in _chunks(ids):
        conn.execute(
            delete(deployment_commits).where(deployment_commits.c.deployment_id.in_(chunk))
        )
    commit_rows: dict[tuple[str, str], dict] = {}
    for e in events:
        for c in e.commits:
            commit_rows[(e.id, c.sha)] = {
                "deployment_id": e.id,
                "sha": c.sha,
                "committed_at": to_epoch(c.committed_at),
            }
    if commit_rows:
        conn.execute(deployment_commits.insert(), list(commit_rows.values()))
    new_keys = {(e.service, c.sha) for e in events for c in e.commits}
    refresh_commit_leads(conn, old_keys | new_keys)
    _replace_signals(
        conn,
        "remediation",
        ids,
        [
            {
                "source_id": e.id,
                "deployment_id": e.remediates,
                "at": to_epoch(e.finished_at),
                "status": e.status,
                "resolved_at": None,
            }
            for e in events
            if e.remediates
        ],
    )
    refresh_signal_targets(conn, set(ids))


def _replace_signals(
    conn: Connection, source: str, source_ids: Sequence[str], rows: list[dict]
) -> None:
    """The signals these sources give now (an update may drop or re-point one)."""
    fs = failure_signals
    for chunk in _chunks(source_ids):
        conn.execute(delete(fs).where(fs.c.source == source, fs.c.source_id.in_(chunk)))
    if rows:
        conn.execute(fs.insert(), [{**r, "source": source, "shipped": False} for r in rows])
        refresh_signal_targets(conn, {r["deployment_id"] for r in rows})


def refresh_signal_targets(conn: Connection, deployment_ids: Iterable[str]) -> None:
    """Copy each named deployment's service, team, finish and standing into its signals."""
    ids = sorted(set(deployment_ids))
    if not ids:
        return
    fs = failure_signals
    named: set[str] = set()
    for chunk in _chunks(ids):
        named.update(
            r[0]
            for r in conn.execute(
                select(fs.c.deployment_id).where(fs.c.deployment_id.in_(chunk)).distinct()
            )
        )
    if not named:
        return
    info: dict[str, dict] = {}
    for chunk in _chunks(sorted(named)):
        q = select(
            deployments.c.id,
            deployments.c.service,
            deployments.c.team,
            deployments.c.finished_at,
            deployments.c.environment,
            deployments.c.status,
        ).where(deployments.c.id.in_(chunk))
        for dep_id, service, team, finished_at, environment, status in conn.execute(q):
            info[dep_id] = {
                "b_service": service,
                "b_team": team,
                "b_finished_at": finished_at,
                "b_shipped": environment == PRODUCTION and status == "success",
            }
    missing = {"b_service": None, "b_team": None, "b_finished_at": None, "b_shipped": False}
    conn.execute(
        update(fs)
        .where(fs.c.deployment_id == bindparam("b_id"))
        .values(
            service=bindparam("b_service"),
            team=bindparam("b_team"),
            finished_at=bindparam("b_finished_at"),
            shipped=bindparam("b_shipped"),
        ),
        [{"b_id": dep_id, **info.get(dep_id, missing)} for dep_id in sorted(named)],
    )


def _commit_keys_of(conn: Connection, deployment_ids: Sequence[str]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for chunk in _chunks(deployment_ids):
        q = (
            select(deployments.c.service, deployment_commits.c.sha)
            .join(deployments, deployments.c.id == deployment_commits.c.deployment_id)
            .where(deployment_commits.c.deployment_id.in_(chunk))
        )
        keys.update((s, sha) for s, sha in conn.execute(q))
    return keys


def refresh_commit_leads(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Recompute the first successful production deployment of each (service, sha).

    Two indexed look-ups (commits by sha, then their deployments by id) rather than one
    join: without table statistics SQLite drives such a join from the deployments'
    environment index and probes every production deployment once per chunk, which made
    ingest quadratic in the size of the table.
    """
    wanted = set(keys)
    if not wanted:
        return
    holders: list[tuple[str, str, float | None]] = []
    for chunk in _chunks(sorted({sha for _, sha in wanted})):
        q = select(
            deployment_commits.c.deployment_id,
            deployment_commits.c.sha,
            deployment_commits.c.committed_at,
        ).where(deployment_commits.c.sha.in_(chunk))
        holders.extend(tuple(r) for r in conn.execute(q))
    shipped: dict[str, tuple[str, float]] = {}  # successful production deployments
    for chunk in _chunks(sorted({h[0] for h in holders})):
        q = select(
            deployments.c.id,
            deployments.c.service,
            deployments.c.finished_at,
            deployments.c.environment,
            deployments.c.status,
        ).where(deployments.c.id.in_(chunk))
        for dep in conn.execute(q):
            if dep.environment == PRODUCTION and dep.status == "success":
                shipped[dep.id] = (dep.service, dep.finished_at)
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for dep_id, sha, committed_at in holders:
        if dep_id not in shipped:
            continue
        service, finished_at = shipped[dep_id]
        key = (service, sha)
        if key not in wanted:
            continue
        cur = best.get(key)
        if cur is None:
            best[key] = {
                "service": service,
                "sha": sha,
                "committed_at": committed_at,
                "deployed_at": finished_at,
                "deployment_id": dep_id,
            }
            continue
        cur["committed_at"] = _min_opt(committed_at, cur["committed_at"])
        if (finished_at, dep_id) < (cur["deployed_at"], cur["deployment_id"]):
            cur["deployed_at"], cur["deployment_id"] = finished_at, dep_id
    gone: dict[str, list[str]] = {}
    for service, sha in wanted - set(best):
        gone.setdefault(service, []).append(sha)
    for service, shas in sorted(gone.items()):  # by primary key, not a row-value scan
        for chunk in _chunks(sorted(shas)):
            conn.execute(
                delete(commit_leads).where(
                    commit_leads.c.service == service, commit_leads.c.sha.in_(chunk)
                )
            )
    for row in best.values():
        row["lead_ms"] = lead_ms(row["deployed_at"], row["committed_at"])
    upsert(conn, commit_leads, list(best.values()), ["service", "sha"])


def lead_ms(deployed_at: float, committed_at: float | None) -> int | None:
    return None if committed_at is None else math.floor((deployed_at - committed_at) * 1000)


def upsert_incidents(conn: Connection, events: Sequence[IncidentEvent]) -> None:
    latest = {e.id: e for e in events}
    upsert(
        conn,
        incidents,
        [
            {
                "id": e.id,
                "service": e.service,
                "opened_at": to_epoch(e.opened_at),
                "resolved_at": to_epoch(e.resolved_at),
                "caused_by_deployment": e.caused_by_deployment,
                "severity": e.severity,
                "title": e.title,
            }
            for e in latest.values()
        ],
        ["id"],
    )
    _replace_signals(
        conn,
        "incident",
        list(latest),
        [
            {
                "source_id": e.id,
                "deployment_id": e.caused_by_deployment,
                "at": to_epoch(e.opened_at),
                "status": None,
                "resolved_at": to_epoch(e.resolved_at),
            }
            for e in latest.values()
            if e.caused_by_deployment
        ],
    )


def rebuild_failure_signals(conn: Connection) -> None:
    """Recompute every signal from deployments and incidents (a store filled another way)."""
    conn.execute(delete(failure_signals))
    rem = conn.execute(
        select(
            deployments.c.id,
            deployments.c.remediates,
            deployments.c.finished_at,
            deployments.c.status,
        ).where(deployments.c.remediates.is_not(None))
    ).all()
    _replace_signals(
        conn,
        "remediation",
        [],
        [
            {"source_id": i, "deployment_id": t, "at": at, "status": st, "resolved_at": None}
            for i, t, at, st in rem
        ],
    )
    inc = conn.execute(
        select(
            incidents.c.id,
            incidents.c.caused_by_deployment,
            incidents.c.opened_at,
            incidents.c.resolved_at,
        ).where(incidents.c.caused_by_deployment.is_not(None))
    ).all()
    _replace_signals(
        conn,
        "incident",
        [],
        [
            {"source_id": i, "deployment_id": t, "at": at, "status": None, "resolved_at": r}
            for i, t, at, r in inc
        ],
    )


def known_services(conn: Connection) -> list[str]:
    """Distinct services by a loose index scan: one seek per service, not a pass over all rows."""
    d = deployments
    later = deployments.alias("later")
    names = select(func.min(d.c.service).label("name")).cte("names", recursive=True)
    names = names.union_all(
        select(
            select(func.min(later.c.service))
            .where(later.c.service > names.c.name)
            .scalar_subquery()
        ).where(names.c.name.is_not(None))
    )
    return [r[0] for r in conn.execute(select(names.c.name).where(names.c.name.is_not(None)))]


def known_teams(conn: Connection) -> list[str]:
    q = (
        select(deployments.c.team)
        .where(deployments.c.team.is_not(None))
        .distinct()
        .order_by(deployments.c.team)
    )
    return [r[0] for r in conn.execute(q)]


def recent_deployments(
    conn: Connection, services: Sequence[str], start: float, end: float, limit: int = 20
) -> list[dict]:
    """Production deployments of `services` finished in [start, end), newest first."""
    q = (
        select(deployments)
        .where(
            deployments.c.service.in_(list(services)),
            deployments.c.environment == PRODUCTION,
            and_(deployments.c.finished_at >= start, deployments.c.finished_at < end),
        )
        .order_by(deployments.c.finished_at.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def _chunks(seq: Sequence, size: int = _IN_CHUNK) -> Iterable[list]:
    seq = list(seq)
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _min_opt(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# ---- incidents confirmed from an alert incident's suspect change ---------------------------
CONFIRMED_PREFIX = "alert:"  # a DORA incident made by confirming an alert incident's cause


def confirmed_id(alert_incident_id: str) -> str:
    return CONFIRMED_PREFIX + alert_incident_id


def link_confirmed_cause(
    conn: Connection, alert_incident_id: str, deployment_id: str, *, service: str, opened_at: float,
    resolved_at: float | None, severity: str | None = None, title: str | None = None,
) -> str:
    """A human confirmed that `deployment_id` caused the alert incident: it becomes a DORA
    incident naming the deployment (`caused_by_deployment`), so change fail rate and
    failed-deployment recovery time count it; its resolution closes the recovery."""
    iid = confirmed_id(alert_incident_id)
    upsert_incidents(conn, [IncidentEvent(
        id=iid, service=service, opened_at=from_epoch(opened_at), resolved_at=from_epoch(resolved_at),
        caused_by_deployment=deployment_id, severity=severity, title=(title or "")[:500] or None,
    )])
    return iid


def unlink_confirmed_cause(conn: Connection, alert_incident_id: str) -> bool:
    """Undo a confirmation: the DORA incident and its failure signal go."""
    iid = confirmed_id(alert_incident_id)
    gone = conn.execute(delete(incidents).where(incidents.c.id == iid)).rowcount
    _replace_signals(conn, "incident", [iid], [])
    return bool(gone)


def confirmed_cause(conn: Connection, alert_incident_id: str) -> str | None:
    row = conn.execute(
        select(incidents.c.caused_by_deployment).where(incidents.c.id == confirmed_id(alert_incident_id))
    ).first()
    return row[0] if row else None


def close_confirmed_recoveries(conn: Connection, resolved: dict[str, float]) -> int:
    """Alert incidents resolved at these times close the recovery of the deployments they
    were confirmed to be caused by (only where still open: the first resolution stands)."""
    if not resolved:
        return 0
    n = 0
    by_id = {confirmed_id(k): v for k, v in resolved.items()}
    for chunk in _chunks(list(by_id)):
        open_ids = [r[0] for r in conn.execute(
            select(incidents.c.id).where(incidents.c.id.in_(chunk), incidents.c.resolved_at.is_(None))
        )]
        for iid in open_ids:
            at = by_id[iid]
            conn.execute(update(incidents).where(incidents.c.id == iid).values(resolved_at=at))
            conn.execute(update(failure_signals).where(
                failure_signals.c.source == "incident", failure_signals.c.source_id == iid
            ).values(resolved_at=at))
            n += 1
    return n
