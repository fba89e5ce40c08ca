"""Alerts, the incidents they were correlated into, membership, actions and Slack messages.

`alerts` is keyed by the occurrence id (a hash of source + fingerprint + starts_at) and
unique on those three: a webhook retry or a repeated firing notification updates the row
(`notifications` counts them), a resolve closes it, and a late retry of a firing
notification never re-opens a resolved occurrence. `alert_incidents` is separate from the
DORA `incidents` table: these are machine-correlated groups, those are declared outages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection

from tools.alerts.models import Alert, AlertLinks
from tools.alerts.summary import IncidentSummary
from tools.store.base import Epoch, metadata, upsert
from tools.timeutil import from_epoch, to_epoch

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("fingerprint", String(200), nullable=False),
    Column("starts_at", Epoch, nullable=False),
    Column("ends_at", Epoch),
    Column("name", String(300), nullable=False),
    Column("service", String(128), index=True),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("links", JSON, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("first_received_at", Epoch, nullable=False),
    Column("last_received_at", Epoch, nullable=False),
    Column("notifications", Integer, nullable=False, default=1),
    Column("incident_id", String(40), index=True),
    UniqueConstraint("source", "fingerprint", "starts_at", name="uq_alerts_occurrence"),
    Index("ix_alerts_status_starts", "status", "starts_at"),
)

alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(500), nullable=False),
    Column("services", JSON, nullable=False),
    Column("services_text", Text, nullable=False),  # "|a|b|": a LIKE filter on both dialects
    Column("opened_at", Epoch, nullable=False, index=True),
    Column("last_alert_at", Epoch, nullable=False),
    Column("resolved_at", Epoch),
    Column("alert_count", Integer, nullable=False),
    Column("notifications", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("summary", JSON, nullable=False),  # the full IncidentSummary (causes, change…)
    Column("acked_at", Epoch),
    Column("acked_by", String(128)),
    Column("resolved_by", String(128)),
    Column("slack_channel", String(64)),
    Column("slack_ts", String(32)),
    Index("ix_alert_incidents_status_opened", "status", "opened_at"),
)

alert_incident_members = Table(
    "alert_incident_members",
    metadata,
    Column("incident_id", String(40), nullable=False),
    Column("alert_id", String(40), nullable=False),
    Column("joined_at", Epoch, nullable=False),
    Column("kind", String(16), nullable=False),
    PrimaryKeyConstraint("incident_id", "alert_id"),
    Index("ix_alert_incident_members_alert", "alert_id"),
)

alert_incident_actions = Table(
    "alert_incident_actions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), nullable=False, index=True),
    Column("action", String(16), nullable=False),  # ack | resolve | show
    Column("user", String(128), nullable=False),
    Column("surface", String(16), nullable=False),
    Column("at", Epoch, nullable=False),
)


alert_incident_decisions = Table(
    "alert_incident_decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(40), nullable=False, index=True),
    # merge | split | confirm_cause | reject_cause | undo_cause
    Column("action", String(16), nullable=False),
    Column("target", String(200)),  # the other incident (merge/split) or the deployment / change
    Column("by", String(128), nullable=False),  # "engine" or the user who decided
    Column("reason", Text, nullable=False, default=""),
    Column("at", Epoch, nullable=False),
)


def record_decision(
    conn: Connection, incident_id: str, action: str, target: str | None, by: str, at: float, reason: str = ""
) -> None:
    """Who or what merged, split or confirmed: nothing changes an incident silently."""
    conn.execute(alert_incident_decisions.insert().values(
        incident_id=incident_id, action=action, target=target, by=by, reason=reason[:2000], at=at))


def decisions_of(conn: Connection, incident_id: str) -> list[dict]:
    q = (select(alert_incident_decisions)
         .where(alert_incident_decisions.c.incident_id == incident_id)
         .order_by(alert_incident_decisions.c.at, alert_incident_decisions.c.id))
    return [dict(r) for r in conn.execute(q).mappings()]


def _move_members(conn: Connection, src: str, dst: str, alert_ids: Sequence[str] | None = None) -> None:
    """Membership rows (and each alert's incident) from `src` to `dst`: all, or these alerts."""
    m = alert_incident_members
    cond = [m.c.incident_id == src]
    if alert_ids is not None:
        cond.append(m.c.alert_id.in_(list(alert_ids)))
    rows = [dict(r) for r in conn.execute(select(m).where(*cond)).mappings()]
    if not rows:
        return
    conn.execute(m.delete().where(*cond))
    upsert(conn, m, [{**r, "incident_id": dst} for r in rows], ["incident_id", "alert_id"], update=False)
    conn.execute(update(alerts).where(alerts.c.id.in_([r["alert_id"] for r in rows])).values(incident_id=dst))


def _apply_moves(conn: Connection, summaries: Sequence[IncidentSummary]) -> None:
    """Persist the engine's merges and splits the summaries show and the store lacks."""
    done = {(r[0], r[1]) for r in conn.execute(
        select(alert_incident_decisions.c.incident_id, alert_incident_decisions.c.target)
        .where(alert_incident_decisions.c.action.in_(["merge", "split"]),
               alert_incident_decisions.c.incident_id.in_([s.id for s in summaries]))
    )}
    for s in summaries:
        for mid in s.merged_ids:
            if (s.id, mid) not in done:
                _move_members(conn, mid, s.id)
                by, why = (s.merged_by.get(mid) or ["engine", "merged"])[:2]
                record_decision(conn, s.id, "merge", mid, by, to_epoch(s.last_alert_at) or 0.0, why)
        if s.split_from and (s.id, s.split_from) not in done:
            _move_members(conn, s.split_from, s.id, s.alert_ids)
            record_decision(conn, s.id, "split", s.split_from, s.split_by or "engine",
                            to_epoch(s.last_alert_at) or 0.0, s.split_reason or "split")


def resolve_incident_id(conn: Connection, incident_id: str) -> str:
    """A merged incident's id leads to the incident that absorbed it (both stay resolvable)."""
    for _ in range(16):
        r = conn.execute(select(alert_incidents.c.status, alert_incidents.c.summary)
                         .where(alert_incidents.c.id == incident_id)).first()
        into = (r[1] or {}).get("merged_into") if r is not None and r[0] == "merged" else None
        if not into:
            return incident_id
        incident_id = into
    return incident_id


def _alert_row(a: Alert, received_at: float) -> dict[str, Any]:
    return {
        "id": a.id,
        "source": a.source,
        "fingerprint": a.fingerprint,
        "starts_at": to_epoch(a.starts_at),
        "ends_at": to_epoch(a.ends_at),
        "name": a.name,
        "service": a.service,
        "severity": a.severity,
        "status": a.status,
        # the JSON columns as their text: both statements bind them so (see _UPSERT_ALERTS)
        "labels": json.dumps(a.labels),
        "annotations": json.dumps(a.annotations),
        "links": a.links.model_dump_json(exclude_none=True),
        "raw": json.dumps(a.raw, default=str) if a.raw else "{}",
        "first_received_at": received_at,
        "last_received_at": received_at,
        "notifications": 1,
    }


def upsert_alerts(conn: Connection, batch: Sequence[Alert], received_at: float) -> None:
    """Store notifications idempotently; the later notification of one occurrence wins,
    except that a resolved occurrence stays resolved. One executemany for the batch."""
    if not batch:
        return
    rows: dict[str, dict[str, Any]] = {}
    for a in batch:  # fold repeats inside the batch first: counts add, resolved sticks
        row = _alert_row(a, received_at)
        prev = rows.get(row["id"])
        if prev is not None:
            row["notifications"] = prev["notifications"] + 1
            if prev["status"] == "resolved":
                row["status"], row["ends_at"] = "resolved", prev["ends_at"]
        rows[row["id"]] = row
    if conn.dialect.name == "postgresql":  # one fixed statement over arrays
        conn.execute(_UPSERT_ALERTS["postgresql"], {c: [r[c] for r in rows.values()] for c in _COLUMNS})
        return
    conn.execute(_UPSERT_ALERTS["sqlite"], list(rows.values()))


_COLUMNS = ("id", "source", "fingerprint", "starts_at", "ends_at", "name", "service", "severity", "status",
            "labels", "annotations", "links", "raw", "first_received_at", "last_received_at", "notifications")
_JSON_COLUMNS = {"labels", "annotations", "links", "raw"}
_PG_TYPES = {"starts_at": "float8", "ends_at": "float8", "first_received_at": "float8", "last_received_at": "float8",
             "notifications": "int4", **dict.fromkeys(_JSON_COLUMNS, "json")}
_ON_CONFLICT = (
    " ON CONFLICT (id) DO UPDATE SET "
    "status = CASE WHEN alerts.status = 'resolved' THEN alerts.status ELSE excluded.status END, "
    "ends_at = CASE WHEN alerts.status = 'resolved' THEN alerts.ends_at ELSE excluded.ends_at END, "
    "severity = excluded.severity, labels = excluded.labels, annotations = excluded.annotations, "
    "links = excluded.links, raw = excluded.raw, last_received_at = excluded.last_received_at, "
    "notifications = alerts.notifications + excluded.notifications"
)
# Fixed statement texts, the JSON columns bound as their text: nothing is processed per row
# by SQLAlchemy. On PostgreSQL the group's rows go as one array per column (the text is the
# same for every group, so psycopg prepares it once; a multi-row VALUES differs with the row
# count and was parsed, planned and bound row by row each time); on SQLite as an executemany.
_UPSERT_ALERTS = {
    "postgresql": text(f"INSERT INTO alerts ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
                       + ", ".join(f"CAST(:{c} AS {_PG_TYPES.get(c, 'varchar')}[])" for c in _COLUMNS) + ")"
                       + _ON_CONFLICT),
    "sqlite": text(f"INSERT INTO alerts ({', '.join(_COLUMNS)}) VALUES (" + ", ".join(f":{c}" for c in _COLUMNS) + ")"
                   + _ON_CONFLICT),
}


def assign(conn: Connection, placements: Sequence[tuple[str, str, str, float]]) -> None:
    """(alert_id, incident_id, kind, at): membership rows and each alert's incident."""
    if not placements:
        return
    rows = {(iid, aid): {"incident_id": iid, "alert_id": aid, "joined_at": at, "kind": kind}
            for aid, iid, kind, at in placements}
    # an alert placed twice in one group (opened in A, then A merged into B) ends in its last
    # incident on both stores (an UPDATE … FROM with two rows per alert picks one arbitrarily)
    last = {aid: iid for aid, iid, _, _ in placements}
    members = list(rows.values())  # ids are the engine's own (a-…, inc-…): within their columns
    if conn.dialect.name == "postgresql":  # memberships and assignments: one statement for the group
        conn.execute(_MEMBERS_AND_ASSIGN_PG, {
            "iids": [r["incident_id"] for r in members], "aids": [r["alert_id"] for r in members],
            "ats": [r["joined_at"] for r in members], "kinds": [r["kind"] for r in members],
            "last_iids": list(last.values()), "last_aids": list(last)})
        return
    conn.execute(_MEMBERS_SQLITE, members)
    conn.execute(_ASSIGN_SQLITE, [{"incident_id": iid, "alert_id": aid} for aid, iid in last.items()])


# SQLite's: fixed texts executed over the rows (no per-row processing in SQLAlchemy)
_MEMBERS_SQLITE = text(
    "INSERT INTO alert_incident_members (incident_id, alert_id, joined_at, kind) "
    "VALUES (:incident_id, :alert_id, :joined_at, :kind) ON CONFLICT (incident_id, alert_id) DO NOTHING"
)
_ASSIGN_SQLITE = text("UPDATE alerts SET incident_id = :incident_id WHERE id = :alert_id AND incident_id IS NOT :incident_id")
# A data-modifying CTE: the membership rows and each alert's incident in one round trip,
# with a text that is the same for every group (prepared once).
_MEMBERS_AND_ASSIGN_PG = text(
    "WITH v AS (SELECT * FROM unnest(CAST(:iids AS varchar[]), CAST(:aids AS varchar[]), "
    "CAST(:ats AS float8[]), CAST(:kinds AS varchar[])) AS v(iid, aid, at, kind)), "
    "ins AS (INSERT INTO alert_incident_members (incident_id, alert_id, joined_at, kind) "
    "SELECT iid, aid, at, kind FROM v ON CONFLICT (incident_id, alert_id) DO NOTHING) "
    "UPDATE alerts SET incident_id = u.iid "
    "FROM unnest(CAST(:last_iids AS varchar[]), CAST(:last_aids AS varchar[])) AS u(iid, aid) "
    "WHERE alerts.id = u.aid AND alerts.incident_id IS DISTINCT FROM u.iid"
)


_NOT_IN_SUMMARY = {"acked_at", "acked_by", "resolved_by", "alert_ids", "time_to_ack_s", "time_to_resolve_s"}


def save_incidents(conn: Connection, summaries: Sequence[IncidentSummary]) -> None:
    """Write the engine-owned columns; actions and the Slack ts are kept as they are."""
    if summaries:
        _save_incident_rows(conn, summaries)
    if any(s.merged_ids or s.split_from for s in summaries):
        _apply_moves(conn, summaries)
    resolved = {s.id: to_epoch(s.resolved_at) for s in summaries if s.status == "resolved" and s.resolved_at}
    if resolved:  # a confirmed cause's recovery ends when its incident resolves
        from tools.store.delivery import close_confirmed_recoveries

        close_confirmed_recoveries(conn, {k: v for k, v in resolved.items() if v is not None})


_INCIDENT_COLUMNS = {  # column -> its PostgreSQL array type
    "id": "varchar", "status": "varchar", "severity": "varchar", "title": "varchar", "services": "json",
    "services_text": "text", "opened_at": "float8", "last_alert_at": "float8", "resolved_at": "float8",
    "alert_count": "int4", "notifications": "int4", "duplicates": "int4", "summary": "json",
}
_UPDATE_INCIDENT = " ON CONFLICT (id) DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _INCIDENT_COLUMNS if c != "id")
_SAVE_INCIDENTS = {
    # PostgreSQL: one prepared statement over column arrays
    "postgresql": text(f"INSERT INTO alert_incidents ({', '.join(_INCIDENT_COLUMNS)}) SELECT * FROM unnest("
                       + ", ".join(f"CAST(:{c} AS {t}[])" for c, t in _INCIDENT_COLUMNS.items()) + ")" + _UPDATE_INCIDENT),
    # SQLite: one executemany of plain values (its JSON columns are text)
    "sqlite": text(f"INSERT INTO alert_incidents ({', '.join(_INCIDENT_COLUMNS)}) VALUES ("
                   + ", ".join(f":{c}" for c in _INCIDENT_COLUMNS) + ")" + _UPDATE_INCIDENT),
}


def _save_incident_rows(conn: Connection, summaries: Sequence[IncidentSummary]) -> None:
    """`save_incidents`' upsert: a fixed statement (no per-row type processing in
    SQLAlchemy), the summaries serialised by pydantic's own JSON encoder (ingest saves every
    incident a group touched: the per-row binding and a Python JSON pass per summary were
    most of its cost)."""
    latest = {s.id: s for s in summaries}  # the last one wins, as with one row after another
    rows = [{"id": s.id, "status": s.status, "severity": s.severity, "title": s.title[:500],
             "services": json.dumps(s.services), "services_text": "|" + "|".join(s.services) + "|",
             "opened_at": to_epoch(s.opened_at), "last_alert_at": to_epoch(s.last_alert_at),
             "resolved_at": to_epoch(s.resolved_at), "alert_count": s.alert_count,
             "notifications": s.notifications, "duplicates": s.duplicates,
             "summary": s.model_dump_json(exclude=_NOT_IN_SUMMARY)} for s in latest.values()]
    if conn.dialect.name == "postgresql":
        conn.execute(_SAVE_INCIDENTS["postgresql"], {c: [r[c] for r in rows] for c in _INCIDENT_COLUMNS})
    else:
        conn.execute(_SAVE_INCIDENTS["sqlite"], rows)


def record_action(conn: Connection, incident_id: str, action: str, user: str, at: float, surface: str = "slack") -> bool:
    """Record who pressed what; ack and resolve also stamp the incident (first one wins)."""
    exists = conn.execute(select(alert_incidents.c.id).where(alert_incidents.c.id == incident_id)).first()
    if exists is None:
        return False
    conn.execute(
        alert_incident_actions.insert().values(incident_id=incident_id, action=action, user=user, surface=surface, at=at)
    )
    c = alert_incidents.c
    if action == "ack":
        conn.execute(update(alert_incidents).where(c.id == incident_id, c.acked_at.is_(None)).values(acked_at=at, acked_by=user))
    elif action == "resolve":
        conn.execute(
            update(alert_incidents)
            .where(c.id == incident_id, c.resolved_by.is_(None))
            .values(status="resolved", resolved_at=func.coalesce(c.resolved_at, at), resolved_by=user)
        )
        from tools.store.delivery import close_confirmed_recoveries

        row = conn.execute(select(c.resolved_at).where(c.id == incident_id)).first()
        close_confirmed_recoveries(conn, {incident_id: row[0] if row and row[0] is not None else at})
    return True


def set_slack_message(conn: Connection, incident_id: str, channel: str, ts: str) -> None:
    conn.execute(update(alert_incidents).where(alert_incidents.c.id == incident_id).values(slack_channel=channel, slack_ts=ts))


def slack_message(conn: Connection, incident_id: str) -> tuple[str, str] | None:
    row = conn.execute(
        select(alert_incidents.c.slack_channel, alert_incidents.c.slack_ts).where(alert_incidents.c.id == incident_id)
    ).first()
    return (row[0], row[1]) if row and row[1] else None


def row_to_alert(r: Any) -> Alert:
    return Alert(
        source=r["source"], fingerprint=r["fingerprint"], name=r["name"], service=r["service"],
        severity=r["severity"], status=r["status"], labels=r["labels"] or {},
        annotations=r["annotations"] or {}, starts_at=from_epoch(r["starts_at"]),
        ends_at=from_epoch(r["ends_at"]), links=AlertLinks(**(r["links"] or {})), raw=r["raw"] or {},
    )


def incident_summary(r: Any, alert_ids: list[str] | None = None) -> IncidentSummary:
    data = dict(r["summary"] or {})
    opened = r["opened_at"]
    data.update(
        status=r["status"], acked_at=from_epoch(r["acked_at"]), acked_by=r["acked_by"],
        resolved_by=r["resolved_by"], resolved_at=from_epoch(r["resolved_at"]),
        alert_ids=alert_ids or [],
        time_to_ack_s=None if r["acked_at"] is None else round(r["acked_at"] - opened, 1),
        time_to_resolve_s=None if r["resolved_at"] is None else round(r["resolved_at"] - opened, 1),
    )
    return IncidentSummary.model_validate(data)


def member_alerts(conn: Connection, incident_id: str) -> list[Alert]:
    q = (
        select(alerts)
        .join(alert_incident_members, alert_incident_members.c.alert_id == alerts.c.id)
        .where(alert_incident_members.c.incident_id == incident_id)
        .order_by(alerts.c.starts_at, alerts.c.id)
    )
    return [row_to_alert(r) for r in conn.execute(q).mappings()]


def open_incidents_for_restore(conn: Connection) -> list[tuple[str, float, list[Alert]]]:
    """Open incidents with their member alerts: what the engine needs after a restart."""
    q = select(alert_incidents.c.id, alert_incidents.c.opened_at).where(alert_incidents.c.status == "open")
    return [(iid, opened, member_alerts(conn, iid)) for iid, opened in conn.execute(q)]


def list_incidents(
    conn: Connection, *, service: str | None = None, status: str = "open", limit: int = 20
) -> list[IncidentSummary]:
    q = select(alert_incidents).order_by(alert_incidents.c.opened_at.desc()).limit(limit)
    if status != "all":
        q = q.where(alert_incidents.c.status == status)
    if service:
        q = q.where(alert_incidents.c.services_text.like(f"%|{_escape_like(service)}|%", escape="\\"))
    return [incident_summary(r) for r in conn.execute(q).mappings()]


def get_incident(conn: Connection, incident_id: str) -> tuple[IncidentSummary, list[Alert]] | None:
    incident_id = resolve_incident_id(conn, incident_id)
    r = conn.execute(select(alert_incidents).where(alert_incidents.c.id == incident_id)).mappings().first()
    if r is None:
        return None
    members = member_alerts(conn, incident_id)
    return incident_summary(r, [a.id for a in members]), members


def incident_ids_like(conn: Connection, prefix: str, limit: int = 10) -> list[str]:
    q = select(alert_incidents.c.id).where(alert_incidents.c.id.like(f"{_escape_like(prefix)}%", escape="\\")).limit(limit)
    return [r[0] for r in conn.execute(q)]


def actions_of(conn: Connection, incident_id: str) -> list[dict]:
    q = (
        select(alert_incident_actions)
        .where(alert_incident_actions.c.incident_id == incident_id)
        .order_by(alert_incident_actions.c.at, alert_incident_actions.c.id)
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def noise_rows(conn: Connection, start: float, end: float) -> tuple[list[dict], list[dict]]:
    """Alerts started and incidents opened in [start, end): what the noise figures need."""
    a = conn.execute(
        select(alerts.c.id, alerts.c.notifications, alerts.c.incident_id).where(
            alerts.c.starts_at >= start, alerts.c.starts_at < end
        )
    ).mappings()
    i = conn.execute(
        select(
            alert_incidents.c.id, alert_incidents.c.opened_at, alert_incidents.c.acked_at,
            alert_incidents.c.resolved_at, alert_incidents.c.status, alert_incidents.c.alert_count,
        ).where(alert_incidents.c.opened_at >= start, alert_incidents.c.opened_at < end)
    ).mappings()
    return [dict(r) for r in a], [dict(r) for r in i]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def hand_resolved_at(conn: Connection, incident_ids: Sequence[str]) -> dict[str, float]:
    """When someone last resolved each of these incidents by hand (those never resolved so
    are left out): the correlator learns of a resolve pressed on another replica."""
    a = alert_incident_actions.c
    q = (select(a.incident_id, func.max(a.at)).where(a.incident_id.in_(list(incident_ids)), a.action == "resolve")
         .group_by(a.incident_id))
    return {r[0]: float(r[1]) for r in conn.execute(q)}


def last_decision_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(alert_incident_decisions.c.id), 0))).scalar_one())


def find_decision(conn: Connection, command: dict, after_id: int) -> dict | None:
    """The merge/split decision a logged command produced, once the correlator applied it."""
    d = alert_incident_decisions.c
    target = command["other"] if command["kind"] == "merge" else command["incident"]
    refused = (d.action == "refused") & d.reason.startswith(f"[{command.get('ref', '')}] ")
    q = (select(alert_incident_decisions)
         .where(d.id > after_id, (d.action == command["kind"]) | refused, d.target == target, d.by == command["by"])
         .order_by(d.id).limit(1))
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None
