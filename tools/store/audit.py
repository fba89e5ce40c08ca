"""Audit log: who asked what, which tool ran, which action was suggested, approved or denied."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Integer, String, Table, Text, insert, select
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, metadata
from tools.timeutil import from_epoch, now_utc

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Epoch, nullable=False, index=True),
    Column("actor", String(128), nullable=False),  # Slack user id, "cli", "webhook:<source>"
    Column("action", String(64), nullable=False),  # command, tool_call, suggest, approve, deny…
    Column("subject", String(256)),
    Column("detail", Text),  # JSON
)


def record(conn: Connection, actor: str, action: str, subject: str | None = None, **detail: Any) -> None:
    conn.execute(
        insert(audit_log).values(
            at=now_utc().timestamp(),
            actor=actor,
            action=action,
            subject=subject,
            detail=json.dumps(detail, default=str, sort_keys=True) if detail else None,
        )
    )


def recent(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest entries first."""
    rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)).mappings()
    return [
        {**dict(r), "at": from_epoch(r["at"]), "detail": json.loads(r["detail"]) if r["detail"] else None}
        for r in rows
    ]
