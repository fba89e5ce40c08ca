"""Conversation state per thread, and token/cost usage per answer.

A thread's turns live in the store (not in process memory) so that a restart or a second
replica continues the conversation; they are trimmed to a token bound on every write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, insert_for, metadata, upsert
from tools.timeutil import now_utc

conversations = Table(
    "conversations",
    metadata,
    Column("key", String(300), primary_key=True),  # surface:channel:thread
    Column("turns", Text, nullable=False),  # JSON list of Turn
    Column("tokens_used", Integer, nullable=False, default=0),  # LLM tokens spent, all turns
    Column("created_at", Epoch, nullable=False),
    Column("updated_at", Epoch, nullable=False, index=True),
)

agent_usage = Table(
    "agent_usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Epoch, nullable=False, index=True),
    Column("conversation_key", String(300)),
    Column("actor", String(128)),
    Column("path", String(16), nullable=False),  # llm | planner
    Column("model", String(128)),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost_usd", Double),  # NULL: price unknown
    Column("tool_calls", Integer, nullable=False, default=0),
    Column("latency_ms", Double, nullable=False, default=0),
    Column("grounded", Boolean),
    Column("fallback", String(32)),
)


class Turn(BaseModel):
    question: str
    answer: str
    tools: list[str] = Field(default_factory=list)  # "name(args)" of the calls made
    at: float = 0.0
    intent: str | None = None  # what the turn was about, for the planner's follow-ups
    slots: dict[str, str] = Field(default_factory=dict)  # scope, window… it was about


class Conversation(BaseModel):
    key: str
    turns: list[Turn] = Field(default_factory=list)
    tokens_used: int = 0


def estimate_tokens(text: str) -> int:
    """~4 characters a token for English (no tokenizer download needed)."""
    return max(1, len(text) // 4)


def _turn_tokens(t: Turn) -> int:
    return estimate_tokens(t.question) + estimate_tokens(t.answer) + sum(estimate_tokens(x) for x in t.tools)


def trim(turns: Sequence[Turn], max_tokens: int) -> list[Turn]:
    """The newest turns that fit in `max_tokens` (oldest dropped first)."""
    kept: list[Turn] = []
    total = 0
    for t in reversed(turns):
        total += _turn_tokens(t)
        if total > max_tokens:
            break
        kept.append(t)
    return list(reversed(kept))


def load(conn: Connection, key: str) -> Conversation:
    row = conn.execute(select(conversations).where(conversations.c.key == key)).mappings().first()
    if row is None:
        return Conversation(key=key)
    return Conversation(
        key=key,
        turns=[Turn.model_validate(t) for t in json.loads(row["turns"])],
        tokens_used=row["tokens_used"],
    )


def append_turn(conn: Connection, key: str, turn: Turn, tokens: int, max_history_tokens: int) -> Conversation:
    """Add a turn and the tokens it cost: a read then a write, so call it in a transaction
    that holds the write lock (`Store.begin(write_lock=True)`): two replicas never lose a
    turn (FOR UPDATE on PostgreSQL; on SQLite the lock is taken by BEGIN IMMEDIATE)."""
    now = now_utc().timestamp()
    turn = turn.model_copy(update={"at": turn.at or now})
    # the row exists before it is locked: FOR UPDATE on a missing row locks nothing, and two
    # first turns would both write "one turn"
    conn.execute(insert_for(conn, conversations).values(
        key=key, turns="[]", tokens_used=0, created_at=now, updated_at=now).on_conflict_do_nothing())
    row = conn.execute(
        select(conversations).where(conversations.c.key == key).with_for_update()
    ).mappings().first()
    turns = [Turn.model_validate(t) for t in json.loads(row["turns"])] if row else []
    used = (row["tokens_used"] if row else 0) + tokens
    turns = trim([*turns, turn], max_history_tokens)
    upsert(
        conn,
        conversations,
        [{
            "key": key,
            "turns": json.dumps([t.model_dump() for t in turns]),
            "tokens_used": used,
            "created_at": row["created_at"] if row else now,
            "updated_at": now,
        }],
        ["key"],
    )
    return Conversation(key=key, turns=turns, tokens_used=used)


def forget(conn: Connection, key: str) -> bool:
    """Drop a conversation's turns and token count (the demo starts each run afresh)."""
    return conn.execute(delete(conversations).where(conversations.c.key == key)).rowcount > 0


def record_usage(conn: Connection, **row: Any) -> None:
    conn.execute(insert(agent_usage).values(at=now_utc().timestamp(), **row))


class UsageLine(BaseModel):
    path: str
    model: str | None
    answers: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    tool_calls: int
    ungrounded: int
    fallbacks: int


def usage_summary(conn: Connection, since: float | None = None) -> list[UsageLine]:
    u = agent_usage.c
    q = select(
        u.path,
        u.model,
        func.count().label("answers"),
        func.coalesce(func.sum(u.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(u.output_tokens), 0).label("output_tokens"),
        func.sum(u.cost_usd).label("cost_usd"),
        func.coalesce(func.sum(u.tool_calls), 0).label("tool_calls"),
        func.count().filter(u.grounded.is_(False)).label("ungrounded"),
        func.count().filter(u.fallback.is_not(None)).label("fallbacks"),
    ).group_by(u.path, u.model).order_by(u.path, u.model)
    if since is not None:
        q = q.where(u.at >= since)
    return [UsageLine.model_validate(dict(r)) for r in conn.execute(q).mappings()]


def exists(conn: Connection, key: str) -> bool:
    return conn.execute(select(conversations.c.key).where(conversations.c.key == key)).first() is not None
