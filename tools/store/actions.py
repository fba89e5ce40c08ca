"""Suggested actions that change a system, and their approval: pending → approved/denied → executed/failed.

The state change from `pending` is a compare-and-set in SQL, so two clicks (or two
replicas) can never approve and run the same action twice; the per-action rate limit is
counted and the approval written in one transaction that holds the action's row in
`action_limits`, so two approvals of one action at once cannot both slip under the limit.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, insert_for, metadata
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


def pending_like(conn: Connection, conversation_key: str, action: str, args: dict[str, Any]) -> ActionRequest | None:
    """A pending suggestion of the same action and arguments in the conversation, if any."""
    q = (select(action_requests)
         .where(action_requests.c.conversation_key == conversation_key, action_requests.c.action == action,
                action_requests.c.args == json.dumps(args, sort_keys=True, default=str),
                action_requests.c.status == "pending"))
    r = conn.execute(q).mappings().first()
    return _row(r) if r else None


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


# --- previews, follow-up checks, outcomes, limits, expiry (additive) -----------------------------
action_followups = Table(
    "action_followups",
    metadata,
    Column("request_id", String(32), primary_key=True),  # one row per action request
    Column("preview", Text),  # JSON of the dry-run shown on the card
    Column("incident_id", String(64), index=True),
    Column("claimed_at", Epoch),  # a replica took the follow-up check (compare-and-set)
    Column("checked_at", Epoch),
    Column("outcome", String(16)),  # worked | no_effect | failed
    Column("detail", Text),
)


def _ensure_followup(conn: Connection, rid: str) -> None:
    if conn.execute(select(action_followups.c.request_id).where(action_followups.c.request_id == rid)).first() is None:
        conn.execute(insert(action_followups).values(request_id=rid))


def save_preview(conn: Connection, rid: str, preview: dict[str, Any] | None, incident_id: str | None) -> None:
    _ensure_followup(conn, rid)
    values: dict[str, Any] = {}
    if preview is not None:
        values["preview"] = json.dumps(preview)
    if incident_id:
        values["incident_id"] = incident_id
    if values:
        conn.execute(update(action_followups).where(action_followups.c.request_id == rid).values(**values))


def followup(conn: Connection, rid: str) -> dict[str, Any] | None:
    r = conn.execute(select(action_followups).where(action_followups.c.request_id == rid)).mappings().first()
    if r is None:
        return None
    d = dict(r)
    d["preview"] = json.loads(d["preview"]) if d["preview"] else None
    return d


def due_checks(conn: Connection, executed_before: float) -> list[ActionRequest]:
    """Executed requests, decided before `executed_before`, whose follow-up is not yet claimed."""
    q = (select(action_requests)
         .select_from(action_requests.outerjoin(action_followups, action_followups.c.request_id == action_requests.c.id))
         .where(action_requests.c.status == "executed", action_requests.c.decided_at <= executed_before,
                action_followups.c.claimed_at.is_(None))
         .order_by(action_requests.c.decided_at))
    return [_row(r) for r in conn.execute(q).mappings()]


def claim_check(conn: Connection, rid: str, now: float) -> bool:
    _ensure_followup(conn, rid)
    res = conn.execute(update(action_followups)
                       .where(action_followups.c.request_id == rid, action_followups.c.claimed_at.is_(None))
                       .values(claimed_at=now))
    return res.rowcount == 1


def record_outcome(conn: Connection, rid: str, outcome: str, detail: str, now: float) -> None:
    _ensure_followup(conn, rid)
    conn.execute(update(action_followups).where(action_followups.c.request_id == rid)
                 .values(outcome=outcome, detail=detail[:2000], checked_at=now,
                         claimed_at=func.coalesce(action_followups.c.claimed_at, now)))


def outcome_stats(conn: Connection, since: float | None = None, fixing: set[str] | None = None,
                  until: float | None = None) -> dict[str, Any]:
    """Counts per action; `incidents` counts incidents an action in `fixing` (None: any) worked for."""
    q = (select(action_requests.c.action, action_requests.c.status, action_followups.c.outcome,
                action_followups.c.incident_id)
         .select_from(action_requests.outerjoin(action_followups, action_followups.c.request_id == action_requests.c.id))
         .where(action_requests.c.status.in_(["executed", "failed"])))
    if since is not None:
        q = q.where(action_requests.c.decided_at >= since)
    if until is not None:
        q = q.where(action_requests.c.decided_at < until)
    kinds: dict[str, dict[str, int]] = {}
    totals = {"worked": 0, "no_effect": 0, "failed": 0}
    executed = 0
    incidents: set[str] = set()
    for action, status, outcome, incident in conn.execute(q):
        c = kinds.setdefault(action, {"total": 0, "worked": 0, "no_effect": 0, "failed": 0, "pending": 0})
        c["total"] += 1
        executed += status == "executed"
        outcome = "failed" if status == "failed" else outcome
        if outcome in totals:
            c[outcome] += 1
            totals[outcome] += 1
        else:
            c["pending"] += 1
        if outcome == "worked" and incident and (fixing is None or action in fixing):
            incidents.add(incident)
    return {"kinds": kinds, "executed": executed, "incidents": len(incidents), **totals}


def executions_since(conn: Connection, action: str, since: float) -> int:
    q = (select(func.count()).select_from(action_requests)
         .where(action_requests.c.action == action, action_requests.c.decided_at >= since,
                action_requests.c.status.in_(["approved", "executed", "failed"])))
    return int(conn.execute(q).scalar_one())


action_limits = Table(
    "action_limits",
    metadata,
    Column("action", String(128), primary_key=True),  # one row per action: the lock of its rate limit
    Column("touched_at", Epoch),
)


def _lock_action(conn: Connection, action: str, now: float) -> None:
    """Hold the action's limit row until the transaction ends (an UPDATE's row lock on
    PostgreSQL; on SQLite the caller's BEGIN IMMEDIATE already serialises writers)."""
    row = action_limits.c.action == action
    if conn.execute(update(action_limits).where(row).values(touched_at=now)).rowcount == 0:
        conn.execute(insert_for(conn, action_limits).values(action=action, touched_at=now)
                     .on_conflict_do_nothing(index_elements=["action"]))
        conn.execute(update(action_limits).where(row).values(touched_at=now))


def approve(conn: Connection, rid: str, *, user: str, now: float, fresh_after: float, window_start: float,
            limit: int) -> str:
    """pending → approved if the request is younger than `fresh_after` and its action ran
    fewer than `limit` times since `window_start`: "approved", "limited", "expired" or "lost"
    (someone decided first). Call inside `store.begin(write_lock=True)`."""
    req = get(conn, rid)
    if req is None or req.status != "pending":
        return "lost"
    _lock_action(conn, req.action, now)
    req = get(conn, rid)  # again, under the lock: another approval may have committed meanwhile
    if req is None or req.status != "pending":
        return "lost"
    if executions_since(conn, req.action, window_start) >= limit:
        return "limited"
    res = conn.execute(update(action_requests)
                       .where(action_requests.c.id == rid, action_requests.c.status == "pending",
                              action_requests.c.created_at >= fresh_after)
                       .values(status="approved", decided_by=user, decided_at=now))
    if res.rowcount == 1:
        return "approved"
    again = get(conn, rid)
    return "expired" if again is not None and again.status == "pending" else "lost"


def expire_stale(conn: Connection, created_before: float) -> list[str]:
    """Pending suggestions older than the limit become `expired` (never run); their ids."""
    q = select(action_requests.c.id).where(action_requests.c.status == "pending",
                                           action_requests.c.created_at < created_before)
    ids = [r[0] for r in conn.execute(q)]
    return [rid for rid in ids if transition(conn, rid, from_status="pending", to_status="expired")]
