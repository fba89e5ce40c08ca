"""Alerts the correlator could not place: kept (never dropped), counted, and retried by hand.

A failure while correlating one alert must not block its service: the alert is stored as
usual, its row here says why it was not grouped (with the log reference), and
`triops alerts stats` shows how many are parked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, String, Table, Text, func, select

from tools.store.base import Epoch, metadata, upsert

alerts_parked = Table(
    "alerts_parked",
    metadata,
    Column("alert_id", String(40), primary_key=True),
    Column("service", String(128)),
    Column("ref", String(16), nullable=False),  # the log line's reference
    Column("reason", Text, nullable=False),
    Column("parked_at", Epoch, nullable=False, index=True),
)


def park(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of alert_id, service, ref, reason, parked_at; parking twice keeps the latest."""
    if rows:
        upsert(conn, alerts_parked, rows, ["alert_id"])


def count_parked(conn: Connection, start: float | None = None, end: float | None = None) -> int:
    q = select(func.count()).select_from(alerts_parked)
    if start is not None:
        q = q.where(alerts_parked.c.parked_at >= start)
    if end is not None:
        q = q.where(alerts_parked.c.parked_at <= end)
    return int(conn.execute(q).scalar_one())


def list_parked(conn: Connection, limit: int = 100) -> list[dict[str, Any]]:
    q = select(alerts_parked).order_by(alerts_parked.c.parked_at.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(q)]
