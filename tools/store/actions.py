"""Suggested actions that change a system, and their approval: pending → approved/denied → executed/failed.

The state change from `pending` is a compare-and-set in SQL, so two clicks (or two
replicas) can never approve and run the same action twice.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, metadata
from tools.timeutil import now_utc

action_requests = Table(
    "action_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Epoch, nullable=False, index=True),
    Column("conversation_key", String(300), index=True),
    Column("action", String(128), nullable=False),  # the name of a mutating tool
    Column("args", Text, nullable=False),  # JSON, validated against the tool's input model
    Column("reason", Text),
    Column("suggested_by", String(128), nullable=False),  # "agent", "planner", a tool name
    Column("status", String(16), nullable=False, default="pending"),
    Column("posted", Integer, nullable=False, default=0),
    Column("channel", String(64)),
    Column("message_ts", String(32)),
    Column("decided_by", String(128)),
    Column("decided_at", Epoch),
    Column("result", Text),
)


class ActionRequest(BaseModel):
    id: str
    created_at: float
    conversation_key: str | None
    action: str
    args: dict[str, Any]
    reason: str | None
    suggested_by: str
    status: str
    posted: bool
    channel: str | None
    message_ts: str | None
    decided_by: str | None
    decided_at: float | None
    result: str | None


def _row(r: Any) -> ActionRequest:
    d = dict(r)
    d["args"] = json.loads(d["args"])
    d["posted"] = bool(d["posted"])
    return ActionRequest.model_validate(d)


def create(conn: Connection, *, action: str, args: dict[str, Any], reason: str | None, suggested_by: str,
           conversation_key: str | None) -> ActionRequest:
    rid = uuid.uuid4().hex
    conn.execute(insert(action_requests).values(
        id=rid, created_at=now_utc().timestamp(), conversation_key=conversation_key, action=action,
        args=json.dumps(args, sort_keys=True, default=str), reason=reason, suggested_by=suggested_by,
        status="pending", posted=0,
    ))
    got = get(conn, rid)
    assert got is not None  # just inserted in this transaction
    return got


def get(conn: Connection, rid: str) -> ActionRequest | None:
    r = conn.execute(select(action_requests).where(action_requests.c.id == rid)).mappings().first()
    return _row(r) if r else None


def unposted(conn: Connection, conversation_key: str) -> list[ActionRequest]:
    q = (select(action_requests)
         .where(action_requests.c.conversation_key == conversation_key, action_requests.c.posted == 0,
                action_requests.c.status == "pending")
         .order_by(action_requests.c.created_at))
    return [_row(r) for r in conn.execute(q).mappings()]


def mark_posted(conn: Connection, rid: str, channel: str, message_ts: str) -> None:
    conn.execute(update(action_requests).where(action_requests.c.id == rid)
                 .values(posted=1, channel=channel, message_ts=message_ts))


def transition(conn: Connection, rid: str, *, from_status: str, to_status: str, user: str | None = None,
               result: str | None = None) -> bool:
    """Move `rid` from one status to the next; False if it was not in `from_status` (lost race)."""
    values: dict[str, Any] = {"status": to_status}
    if user is not None:
        values |= {"decided_by": user, "decided_at": now_utc().timestamp()}
    if result is not None:
        values["result"] = result
    res = conn.execute(update(action_requests)
                       .where(action_requests.c.id == rid, action_requests.c.status == from_status)
                       .values(**values))
    return res.rowcount == 1
