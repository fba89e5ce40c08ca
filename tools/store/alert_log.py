"""The ordered ingest log: one row per alert notification, in commit order.

Every replica appends here in the transaction that stores the alerts; the one replica
holding the correlator lease consumes the log in `seq` order from its recorded position.
A reader must never see seq N+1 committed before seq N (it would move its position past N
and skip it): on PostgreSQL appends take a transaction-scoped advisory lock, so sequence
numbers are handed out and committed in the same order; on SQLite the database's single
writer already does that. The alert's row in `alerts` holds the latest notification; the
log keeps what differs per notification (status, end). A human's merge or split decided
on a replica that does not correlate is logged too, as a command, applied in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection

from tools.alerts.models import Alert
from tools.store.alerts import alerts, row_to_alert
from tools.store.base import Epoch, metadata
from tools.timeutil import from_epoch, to_epoch

alert_log = Table(
    "alert_log",
    metadata,
    # AUTOINCREMENT on SQLite: a seq is never reused after the log is trimmed empty
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("alert_id", String(40)),  # None for a command
    Column("kind", String(16), nullable=False, default="alert"),  # alert | merge | split
    Column("payload", JSON),  # a command's arguments
    Column("status", String(16), nullable=False),
    Column("ends_at", Epoch),
    Column("received_at", Epoch, nullable=False),
    sqlite_autoincrement=True,
)

_APPEND_LOCK = 0x7472696F7073  # pg_advisory_xact_lock key for appends ("triops")


def append(conn: Connection, batch: Sequence[Alert], received_at: float) -> tuple[int, int]:
    """Log the batch's notifications in order; returns their (first, last) seq. Call it last
    in the transaction: on PostgreSQL the append lock is held until the commit."""
    if not batch:
        return 0, 0
    if conn.dialect.name == "postgresql":  # the lock and the rows in one round trip
        seqs = [int(r[0]) for r in conn.execute(_PG_APPEND, {
            "lock": _APPEND_LOCK, "ids": [a.id for a in batch], "statuses": [a.status for a in batch],
            "ends": [to_epoch(a.ends_at) for a in batch], "received": received_at})]
        return min(seqs), max(seqs)
    rows = [{"alert_id": a.id, "kind": "alert", "status": a.status, "ends_at": to_epoch(a.ends_at),
             "received_at": received_at} for a in batch]
    seqs = [int(r[0]) for r in conn.execute(_APPEND, rows)]
    return min(seqs), max(seqs)


_APPEND = insert(alert_log).returning(alert_log.c.seq)  # built once (per group it cost more than the insert)


# Every row needs the CTE's (volatile, so evaluated once and first) lock: no seq is drawn before it
# is held. Rows are numbered in the batch's order (ORDER BY the array position).
_PG_APPEND = text("""
    WITH held AS MATERIALIZED (SELECT pg_advisory_xact_lock(:lock) AS l)
    INSERT INTO alert_log (alert_id, kind, status, ends_at, received_at)
    SELECT v.alert_id, 'alert', v.status, v.ends_at, :received
    FROM held, unnest(CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), CAST(:ends AS float8[]))
         WITH ORDINALITY AS v(alert_id, status, ends_at, n)
    ORDER BY v.n
    RETURNING seq
""")


def append_command(conn: Connection, kind: str, payload: dict[str, Any], at: float) -> int:
    """Log a decision for the correlating replica to apply in order; returns its seq."""
    _lock(conn)
    return int(conn.execute(insert(alert_log).values(kind=kind, payload=payload, status="-", received_at=at)
                            .returning(alert_log.c.seq)).scalar_one())


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"SELECT pg_advisory_xact_lock({_APPEND_LOCK})"))


def last_seq(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(alert_log.c.seq), 0))).scalar_one())


def read_after(conn: Connection, after: int, limit: int = 5000) -> list[tuple[int, Alert | dict[str, Any]]]:
    """The log after `after`, in seq order: each notification as the alert it carried, each
    command as {"kind": …, **its payload}."""
    L = alert_log.c
    q = (
        select(L.seq, L.kind.label("log_kind"), L.payload.label("log_payload"), L.status.label("log_status"),
               L.ends_at.label("log_ends_at"), alerts)
        .outerjoin(alerts, alerts.c.id == L.alert_id)
        .where(L.seq > after)
        .order_by(L.seq)
        .limit(limit)
    )
    out: list[tuple[int, Alert | dict[str, Any]]] = []
    for r in conn.execute(q).mappings():
        if r["log_kind"] != "alert":
            out.append((int(r["seq"]), {**(r["log_payload"] or {}), "kind": r["log_kind"]}))
            continue
        a = row_to_alert(r)
        out.append((int(r["seq"]), a.model_copy(update={"status": r["log_status"], "ends_at": from_epoch(r["log_ends_at"])})))
    return out


def trim(conn: Connection, upto: int) -> int:
    """Forget notifications up to `upto` (already correlated and saved)."""
    return int(conn.execute(delete(alert_log).where(alert_log.c.seq <= upto)).rowcount or 0)
