"""Attach lifecycle events to the occurrence already stored (anchored sources only).

PagerDuty and Opsgenie name an alert by their own id; their later events (ack, close,
a late or replayed trigger) must update that one occurrence, not start another, and an
event that only updates (UnAcknowledge, acknowledged) must never reopen a resolved one.
Rule, per alert of an anchored batch, against the latest stored occurrence of
(source, fingerprint):
- none stored: the event's own start time (an ack that arrives before its trigger
  still records the alert);
- stored and open: its start time (same occurrence);
- stored and resolved: an opening event (trigger, Create, reopen) that happened after the
  resolve starts a new occurrence; anything else attaches to the resolved one, which the
  store keeps resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from tools.alerts.models import Alert
from tools.timeutil import from_epoch

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def _latest(conn: Connection, source: str, fingerprint: str) -> tuple[datetime, str, datetime | None] | None:
    from tools.store.alerts import alerts

    row = conn.execute(
        select(alerts.c.starts_at, alerts.c.status, alerts.c.ends_at)
        .where(alerts.c.source == source, alerts.c.fingerprint == fingerprint)
        .order_by(alerts.c.starts_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    start = from_epoch(row[0])
    assert start is not None  # starts_at is NOT NULL
    return start, str(row[1]), from_epoch(row[2]) if row[2] is not None else None


def anchor(conn: Connection, alerts_in: Sequence[Alert], opening: Sequence[bool]) -> list[Alert]:
    out: list[Alert] = []
    seen: dict[tuple[str, str], tuple[datetime, str, datetime | None]] = {}
    for a, opens in zip(alerts_in, opening, strict=True):
        key = (a.source, a.fingerprint)
        latest = seen.get(key) or _latest(conn, *key)
        start = a.starts_at
        if latest is not None:
            l_start, l_status, l_end = latest
            event_at = a.ends_at if a.status == "resolved" and a.ends_at else a.starts_at
            reopen = opens and l_status == "resolved" and event_at > (l_end or l_start) and a.starts_at != l_start
            if not reopen:
                start = l_start
        fixed = a if start == a.starts_at else a.model_copy(update={"starts_at": start})
        if fixed.ends_at is not None and fixed.ends_at < fixed.starts_at:
            fixed = fixed.model_copy(update={"ends_at": fixed.starts_at})
        prev = seen.get(key)
        resolved = fixed.status == "resolved" or (prev is not None and prev[0] == start and prev[1] == "resolved")
        seen[key] = (start, "resolved" if resolved else "firing", fixed.ends_at or (prev[2] if prev else None))
        out.append(fixed)
    return out
