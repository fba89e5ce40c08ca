"""Generic tool wrapping: schemas, structured errors, repeat refusal, budgets, capping."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import ToolMessage

from bot.agent.budget import Budget, BudgetMeter
from bot.agent.capping import cap_json, redact
from bot.agent.toolkit import ToolSession, as_langchain_tools
from bot.logs import REDACTED
from tools.contract import ToolContext, ToolRegistry


def session(registry: ToolRegistry, ctx: ToolContext, **budget: int) -> ToolSession:
    return ToolSession(registry, ctx, BudgetMeter(Budget(**budget)), max_output_chars=2000)


def test_every_read_only_tool_is_wrapped_from_its_schema(registry: ToolRegistry, ctx: ToolContext) -> None:
    tools = {t.name: t for t in as_langchain_tools(session(registry, ctx))}
    assert set(tools) == {t.name for t in registry if not t.mutates}
    assert "restart_workload" not in tools  # mutates=True: never offered
    schema = tools["service_notes"].args_schema
    assert isinstance(schema, dict)
    assert schema["properties"]["service"]["type"] == "string"
    assert schema["required"] == ["service"]
    assert "scope" in tools["dora_metrics"].args_schema["properties"]


def _invoke(tool, args: dict) -> ToolMessage:  # type: ignore[no-untyped-def]
    return tool.invoke({"type": "tool_call", "name": tool.name, "args": args, "id": "c1"})


def test_result_is_the_tool_output_as_json(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx)
    dora = next(t for t in as_langchain_tools(s) if t.name == "dora_metrics")
    msg = _invoke(dora, {"scope": "checkout", "window": "30d"})
    assert msg.status == "success"
    data = json.loads(msg.content)
    assert data["current"]["deployment_frequency"]["deployments"] == 10
    assert data["current"]["change_fail_rate"]["rate_percent"] == 20.0
    assert s.calls[0].ok and s.calls[0].output.current.lead_time.median_hours == 5.0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ({"scope": "nowhere"}, "don't know a service or team called 'nowhere'"),
        ({"scope": "checkout", "window": "forever"}, "'forever' is not a time window"),
        ({"scope": "checkout", "window": 5}, "Bad arguments for dora_metrics: window"),
    ],
)
def test_bad_arguments_come_back_as_structured_errors(registry: ToolRegistry, ctx: ToolContext, args: dict, needle: str) -> None:
    s = session(registry, ctx)
    dora = next(t for t in as_langchain_tools(s) if t.name == "dora_metrics")
    msg = _invoke(dora, args)
    assert msg.status == "error"
    err = json.loads(msg.content)
    assert err["status"] == "error" and err["tool"] == "dora_metrics"
    assert needle in err["error"]
    assert s.calls[-1].error is not None


def test_tool_crash_is_a_structured_error_without_a_trace(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx)
    notes = next(t for t in as_langchain_tools(s) if t.name == "service_notes")
    msg = _invoke(notes, {"service": "boom"})
    err = json.loads(msg.content)
    assert msg.status == "error"
    assert "internal error (RuntimeError" in err["error"]
    assert "database exploded" not in msg.content and "Traceback" not in msg.content


def test_repeated_identical_call_is_refused(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx)
    dora = next(t for t in as_langchain_tools(s) if t.name == "dora_metrics")
    assert _invoke(dora, {"scope": "checkout"}).status == "success"
    # the same call once defaults are filled in: still identical
    again = _invoke(dora, {"scope": "checkout", "window": "30d"})
    assert again.status == "error" and "already called with these arguments" in again.content
    assert s.calls[-1].refused
    assert _invoke(dora, {"scope": "checkout", "window": "7d"}).status == "success"
    assert s.meter.tool_calls == 2  # the refused call did not spend the budget


def test_tool_call_budget(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx, max_tool_calls=2)
    dora = next(t for t in as_langchain_tools(s) if t.name == "dora_metrics")
    for w in ("7d", "14d"):
        assert _invoke(dora, {"scope": "checkout", "window": w}).status == "success"
    third = _invoke(dora, {"scope": "checkout", "window": "30d"})
    assert third.status == "error" and "budget of 2 tool calls" in third.content
    assert [c.refused for c in s.calls] == [False, False, True]


def test_mutating_tool_is_refused_even_if_named(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx)
    with pytest.raises(Exception) as exc:
        s.invoke("restart_workload", {"workload": "checkout"})
    assert "never run by the assistant" in str(exc.value)


def test_output_is_capped_but_kept_whole_for_grounding(registry: ToolRegistry, ctx: ToolContext) -> None:
    s = session(registry, ctx)
    notes = next(t for t in as_langchain_tools(s) if t.name == "service_notes")
    msg = _invoke(notes, {"service": "checkout", "limit": 40})
    assert len(msg.content) <= 2000
    data = json.loads(msg.content)  # still valid JSON
    assert data["service"] == "checkout"
    assert any("more items not shown" in n for n in data["notes"])
    assert s.calls[-1].capped and len(s.calls[-1].output.notes) == 40


def test_cap_json_small_values_untouched() -> None:
    text, capped = cap_json({"a": [1, 2, 3]}, 100)
    assert json.loads(text) == {"a": [1, 2, 3]} and not capped


def test_cap_json_hard_cut_as_last_resort() -> None:
    text, capped = cap_json({f"k{i}": i for i in range(500)}, 600)
    assert capped and len(text) <= 600 and text.endswith("… [truncated]")


def test_secrets_are_redacted() -> None:
    raw = "token xoxb-1234567890-abcdefghij and sk-abcdefghijklmnopqrstuv and Bearer abcdefghijklmnopqrstuvwxyz"
    out = redact(raw)
    assert "xoxb-" not in out and "sk-abc" not in out and "abcdefghijklmnopqrstuvwxyz" not in out
    assert out.count(REDACTED) == 3
    text, _ = cap_json({"note": raw}, 10_000)
    assert "xoxb-" not in text
