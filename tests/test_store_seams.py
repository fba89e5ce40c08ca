"""The store convention: tools/store/*.py functions work in the caller's transaction (a
Connection first); the seams (tools.audit, .conversations, .approvals, .idempotency) take a
Store and commit one transaction per call."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading

import pytest
from sqlalchemy import func, select

import tools.store
from tools import approvals, audit, conversations, idempotency
from tools.store import Store, slack_events
from tools.store import actions as action_store
from tools.store import audit as audit_store
from tools.store.audit import audit_log
from tools.store.conversations import Turn


def _store_modules() -> list[object]:
    return [importlib.import_module(f"tools.store.{m.name}")
            for m in pkgutil.iter_modules(tools.store.__path__)]


def test_no_store_function_takes_a_store() -> None:
    """A function that needs the database takes `conn: Connection` first, never a Store."""
    for module in _store_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:  # type: ignore[attr-defined]
                continue
            params = list(inspect.signature(inspect.unwrap(fn)).parameters.values())
            assert all(p.name != "store" for p in params), f"{module.__name__}.{name}"  # type: ignore[attr-defined]
            if params and params[0].name == "conn":
                assert params[0].annotation == "Connection", f"{module.__name__}.{name}"  # type: ignore[attr-defined]


def _audit_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_log)).scalar_one()


def test_the_caller_owns_the_transaction(store: Store) -> None:
    with pytest.raises(RuntimeError), store.begin() as conn:
        audit_store.record(conn, "U1", "command", "dora")
        action_store.create(conn, action="restart", args={}, reason=None, suggested_by="planner",
                            conversation_key="k")
        raise RuntimeError("the caller gives up")
    assert _audit_rows(store) == 0
    assert approvals.unposted(store, "k") == []
    with store.begin() as conn:
        audit_store.record(conn, "U1", "command", "dora")
        req = action_store.create(conn, action="restart", args={"n": 1}, reason=None,
                                  suggested_by="planner", conversation_key="k")
        assert action_store.get(conn, req.id) == req  # read inside the same transaction
    assert _audit_rows(store) == 1 and [r.id for r in approvals.unposted(store, "k")] == [req.id]


def test_a_repeated_event_does_not_abort_the_callers_transaction(store: Store) -> None:
    """ON CONFLICT, not a caught IntegrityError: on PostgreSQL that would poison the transaction."""
    with store.begin() as conn:
        assert slack_events.first_time_seen(conn, "Ev1")
        assert not slack_events.first_time_seen(conn, "Ev1")
        audit_store.record(conn, "U1", "after-the-repeat")  # the transaction is still usable
    assert _audit_rows(store) == 1
    assert not idempotency.first_time_seen(store, "Ev1")
    assert idempotency.first_time_seen(store, "Ev2") and idempotency.first_time_seen(store, None)


def test_the_seams_keep_their_signatures_and_commit(store: Store) -> None:
    audit.record(store, "U1", "approve", "restart", request="r1")
    (entry,) = audit.recent(store, 5)
    assert (entry["actor"], entry["action"], entry["detail"]) == ("U1", "approve", {"request": "r1"})

    req = approvals.create(store, action="restart", args={}, reason="why", suggested_by="agent",
                           conversation_key="k")
    assert approvals.transition(store, req.id, from_status="pending", to_status="approved", user="U2")
    assert not approvals.transition(store, req.id, from_status="pending", to_status="denied", user="U3")
    approvals.mark_posted(store, req.id, "C1", "1.2")
    got = approvals.get(store, req.id)
    assert got is not None and (got.status, got.decided_by, got.posted) == ("approved", "U2", True)

    conv = conversations.append_turn(store, "t", Turn(question="q", answer="a"), 7, 1000)
    assert conversations.load(store, "t") == conv and conversations.exists(store, "t")
    conversations.record_usage(store, path="planner", conversation_key="t")
    assert [u.answers for u in conversations.usage_summary(store)] == [1]


def test_concurrent_appends_through_the_seam_lose_no_turn(store: Store) -> None:
    def add(who: str) -> None:
        for i in range(10):
            conversations.append_turn(store, "busy", Turn(question=f"{who}{i}", answer="."), 1, 10**6)

    threads = [threading.Thread(target=add, args=(w,)) for w in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conv = conversations.load(store, "busy")
    assert (len(conv.turns), conv.tokens_used) == (20, 20)


