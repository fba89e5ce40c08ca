"""Conversation state and usage in the store, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import time
import uuid

from tools.conversations import Turn, append_turn, load, record_usage, trim, usage_summary
from tools.store import Store
from tools.store.conversations import agent_usage


def test_turns_persist_accumulate_and_trim(any_store: Store) -> None:
    key = f"slack:C1:{uuid.uuid4().hex}"
    assert load(any_store, key).turns == []
    for i in range(5):
        append_turn(any_store, key, Turn(question=f"q{i} " + "w" * 400, answer="a" * 400, tools=["dora_metrics(scope=checkout)"]), tokens=100, max_history_tokens=700)
    conv = load(any_store, key)
    assert conv.tokens_used == 500  # all turns' tokens count, even trimmed ones
    assert [t.question[:2] for t in conv.turns] == ["q2", "q3", "q4"]  # 207 tokens a turn, 700 max
    assert all(t.at > 0 for t in conv.turns)


def test_trim_keeps_newest_first() -> None:
    turns = [Turn(question=str(i), answer="x" * 40) for i in range(10)]
    kept = trim(turns, 35)
    assert [t.question for t in kept] == ["7", "8", "9"]
    assert trim(turns, 0) == []


def test_usage_summary_groups_by_path_and_model(any_store: Store) -> None:
    marker = uuid.uuid4().hex
    with any_store.engine.begin() as conn:
        conn.execute(agent_usage.delete().where(agent_usage.c.actor.like("usage-test-%")))
    since = time.time() - 1
    record_usage(any_store, conversation_key=marker, actor="usage-test-1", path="llm", model="gpt-4o-mini",
                 input_tokens=1000, output_tokens=100, cost_usd=0.00021, tool_calls=2, latency_ms=900, grounded=True, fallback=None)
    record_usage(any_store, conversation_key=marker, actor="usage-test-1", path="llm", model="gpt-4o-mini",
                 input_tokens=500, output_tokens=50, cost_usd=0.000105, tool_calls=1, latency_ms=400, grounded=False, fallback="ungrounded")
    record_usage(any_store, conversation_key=marker, actor="usage-test-2", path="planner", model=None,
                 input_tokens=0, output_tokens=0, cost_usd=None, tool_calls=1, latency_ms=20, grounded=True, fallback=None)
    lines = {(u.path, u.model): u for u in usage_summary(any_store, since=since)}
    llm = lines[("llm", "gpt-4o-mini")]
    assert (llm.answers, llm.input_tokens, llm.output_tokens, llm.tool_calls, llm.ungrounded, llm.fallbacks) == (2, 1500, 150, 3, 1, 1)
    assert abs(llm.cost_usd - 0.000315) < 1e-12
    assert lines[("planner", None)].cost_usd is None


def test_concurrent_appends_lose_no_turn(any_store: Store) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = f"slack:C2:{uuid.uuid4().hex}"
    append_turn(any_store, key, Turn(question="q0", answer="a0"), tokens=1, max_history_tokens=10_000)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: append_turn(any_store, key, Turn(question=f"q{i}", answer="a"), tokens=1, max_history_tokens=10_000), range(1, 9)))
    conv = load(any_store, key)
    assert conv.tokens_used == 9 and sorted(t.question for t in conv.turns) == sorted(f"q{i}" for i in range(9))
