"""Failure modes of real small models, replayed from their transcripts on the wire.

Each case in fixtures/llm_transcripts.json is what an OpenAI-compatible server returned
(recorded from llama.cpp's server, or quoted in issue #16). The real ChatOpenAI client
reads it from a loopback double; the agent must never show a raw tool-call payload, an
empty answer or a prompt echo, must run a tool call written as text through the same
validated path, and must let the planner answer (and say why) when the turn is unusable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent.service import Assistant, answer_text
from tests.agent.conftest import make_settings
from tests.agent.openai_double import OpenAIDouble
from tools.contract import ToolContext, ToolRegistry

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "llm_transcripts.json").read_text())["cases"]


def case(name: str) -> dict[str, Any]:
    return next(c for c in FIXTURES if c["id"] == name)


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as d:
        yield d


def replay(name: str, ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path, **over: Any):  # type: ignore[no-untyped-def]
    c = case(name)
    for body in c["responses"]:
        double.push(body)
    ctx.settings = make_settings(tmp_path, OPENAI_BASE_URL=double.base_url, TRIOPS_LLM_MODEL=c["responses"][0]["model"], **over)
    return Assistant(registry, ctx, ctx.settings).ask(c["question"])


def never_raw(text: str) -> None:
    assert text.strip()
    assert '"arguments"' not in text and '"name":' not in text and "<tool_call>" not in text
    assert "You are triops" not in text


def test_text_call_to_a_tool_that_does_not_exist_is_a_failed_turn(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("json_text_call_to_a_tool_that_does_not_exist", ctx, registry, double, tmp_path)
    shown = answer_text(ans)
    never_raw(shown)
    assert ans.path == "planner" and ans.fallback == "bad_tool_call"
    assert "'checkout_ship', which is not a tool" in shown and "dora_metrics" in shown  # the list of tools
    assert ans.calls and ans.calls[-1].tool == "dora_metrics" and ans.calls[-1].by == "planner"
    assert not any(c.by == "llm" for c in ans.calls)  # nothing ran for the made-up tool


def test_false_claim_without_a_tool_call_is_never_accepted(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("false_claim_without_a_tool_call", ctx, registry, double, tmp_path)
    shown = answer_text(ans)
    assert ans.fallback == "no_tool_call" and ans.path == "planner"
    assert "does not exist" not in shown and "without looking anything up" in shown
    assert ans.grounding is not None  # the planner's own answer, checked like any other


def test_state_claim_without_a_tool_call_is_never_accepted(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("state_claim_without_a_tool_call", ctx, registry, double, tmp_path)
    assert ans.fallback == "no_tool_call"
    assert "still ok" not in answer_text(ans)


def test_right_tool_written_as_text_runs_through_the_validated_path(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("right_tool_written_as_text_in_tool_call_tags", ctx, registry, double, tmp_path)
    assert ans.path == "llm" and ans.fallback is None and ans.grounding.grounded
    assert [(c.tool, c.args, c.by, c.ok) for c in ans.calls] == [("dora_metrics", {"scope": "checkout", "window": "30d"}, "llm", True)]
    # the second request carries the repaired turn as a structured call and its result
    second = double.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "dora_metrics" and not second[-2].get("content")
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["current"]["deployment_frequency"]["deployments"] == 10


def test_near_miss_tool_and_argument_names_are_mapped(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("right_tool_in_fenced_json_with_near_miss_names", ctx, registry, double, tmp_path)
    assert ans.path == "llm" and ans.fallback is None
    (c,) = ans.calls
    assert (c.tool, c.args, c.ok) == ("dora_metrics", {"service": "payments", "window": "30d"}, True)
    assert ans.text == "Payments deployed 4 times in the last 30 days [dora_metrics]."


def test_raw_json_final_answer_is_never_shown(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """A repeated call written as text after the tool ran: refused as a repeat, never posted."""
    ans = replay("raw_json_as_the_final_answer_after_a_tool_call", ctx, registry, double, tmp_path)
    never_raw(answer_text(ans))
    assert ans.fallback is not None
    assert "20.0 %" in answer_text(ans)  # the tool's result is shown as computed


def test_prompt_echo_is_never_shown(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("prompt_echo", ctx, registry, double, tmp_path)
    assert ans.fallback == "prompt_echo" and ans.path == "planner"
    never_raw(answer_text(ans))
    assert "repeated its instructions" in ans.text


def test_empty_answer_is_never_shown(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ans = replay("empty_answer", ctx, registry, double, tmp_path)
    assert ans.path == "planner" and ans.fallback == "no_answer"
    never_raw(answer_text(ans))


def test_tool_written_with_unparseable_arguments_is_a_failed_turn(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    from tests.agent.openai_double import completion

    body = completion(content=None)
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_1", "type": "function", "function": {"name": "dora_metrics", "arguments": "{scope: checkout"}}]
    body["choices"][0]["finish_reason"] = "tool_calls"
    double.push(body)
    ctx.settings = make_settings(tmp_path, OPENAI_BASE_URL=double.base_url, TRIOPS_LLM_MODEL="qwen")
    ans = Assistant(registry, ctx, ctx.settings).ask("how did checkout ship in the last 30 days?")
    assert ans.fallback == "bad_tool_call" and "not JSON" in ans.text
    never_raw(answer_text(ans))


RECORDED = json.loads((Path(__file__).parent / "fixtures" / "llm_transcripts.json").read_text()).get("recorded", [])


def replay_recorded(rec: dict[str, Any], ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path):  # type: ignore[no-untyped-def]
    for body in rec["responses"]:
        double.push(body)
    ctx.settings = make_settings(tmp_path, OPENAI_BASE_URL=double.base_url, TRIOPS_LLM_MODEL="smollm2-135m",
                                 TRIOPS_LLM_TOOLS_IN_PROMPT="1", TRIOPS_LLM_CONTEXT_TOKENS="4096")
    return Assistant(registry, ctx, ctx.settings).ask(rec["question"])


@pytest.mark.parametrize("rec", RECORDED, ids=[r["id"] for r in RECORDED])
def test_recorded_answers_of_a_real_small_model(rec: dict[str, Any], ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """Every recorded SmolLM2 answer was prose with no tool call and made-up facts (an
    invented `alert_get` service, invented commands, "20 (15)" alerts): none is shown; the
    planner answers and says why."""
    ans = replay_recorded(rec, ctx, registry, double, tmp_path)
    said = rec["responses"][-1]["choices"][0]["message"]["content"]
    shown = answer_text(ans)
    assert ans.path == "planner" and ans.fallback == rec.get("fallback", "no_tool_call")
    assert said[:40] not in shown
    never_raw(shown)


def recorded(name: str) -> dict[str, Any]:
    return next(r for r in RECORDED if r["id"] == name)


def test_a_made_up_call_in_the_prompts_signature_syntax_is_neither_run_nor_shown(
        ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """SmolLM2 read the tool list's own syntax back with made-up names:
    `checkout_ship(service: string, window: string = "6h")`, then `check_ship({name: ...})`.
    Neither is JSON nor a registered tool: nothing runs, and the user sees the planner's answer."""
    ans = replay_recorded(recorded("smollm2_signature_echo"), ctx, registry, double, tmp_path)
    shown = answer_text(ans)
    assert ans.path == "planner" and ans.fallback == "no_tool_call"
    assert not any(c.by == "llm" for c in ans.calls)
    assert [c.tool for c in ans.calls] == ["dora_metrics"]  # the planner's call
    assert "checkout_ship" not in shown and "check_ship" not in shown and "string" not in shown
    never_raw(shown)


def test_a_state_claim_with_an_echoed_time_line_is_never_shown(
        ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """"The fraud model is not healthy … (time now: 2026-11-23 12:00 UTC)": a state claim with no
    tool call, ending in the user turn's time line read back (a prompt echo, refused first).
    The planner answers from the tool."""
    ans = replay_recorded(recorded("smollm2_state_claim_time_echo"), ctx, registry, double, tmp_path)
    shown = answer_text(ans)
    assert ans.path == "planner" and ans.fallback == "prompt_echo"
    assert "not healthy" not in shown and "(time now:" not in shown and "manipulated" not in shown
    assert "fraud-scorer" in shown and any(c.tool.startswith("model") for c in ans.calls)
    never_raw(shown)


def test_a_chat_question_read_back_is_never_shown(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble,
                                                  tmp_path: Path) -> None:
    """Gemma 3 270M answered "hello there" with the user turn read back, then the time line
    triops adds and "mendatanguser" over and over. A greeting needs no tool; the answer was
    refused only because the time's figures came from no tool ("ungrounded", a note that
    misleads). It is refused as what it is, a read-back; the planner greets instead."""
    rec = recorded("gemma3_chat_question_read_back")
    said = rec["responses"][0]["choices"][0]["message"]["content"]
    assert said.startswith("hello there") and "(time now:" in said
    ans = replay_recorded(rec, ctx, registry, double, tmp_path)
    shown = answer_text(ans)
    assert ans.path == "planner" and ans.intent == "smalltalk" and ans.fallback == "prompt_echo"
    assert "(time now:" not in shown and "mendatang" not in shown and said[:40] not in shown
    never_raw(shown)
