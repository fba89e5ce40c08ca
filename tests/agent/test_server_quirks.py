"""OpenAI-compatible servers as users run them: the response shapes of vLLM, Ollama's /v1,
LiteLLM and llama.cpp's server, replayed by a loopback double to the real client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent.service import Assistant
from bot.agent.toolkit import offered_tools, schema_of
from tests.agent.conftest import make_settings
from tests.agent.openai_double import OpenAIDouble, chunks, completion
from tools.contract import ToolContext, ToolRegistry

QUESTION = "how did checkout ship in the last 30 days?"
ANSWER = "Checkout shipped 10 deployments in the last 30 days; 20% failed [dora_metrics]."
CALL = ("dora_metrics", {"scope": "checkout", "window": "30d"})


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as d:
        yield d


def ask(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path, model: str = "local", **over: Any):  # type: ignore[no-untyped-def]
    ctx.settings = make_settings(tmp_path, OPENAI_BASE_URL=double.base_url, TRIOPS_LLM_MODEL=model, **over)
    return Assistant(registry, ctx, ctx.settings).ask(QUESTION)


def shaped(body: dict[str, Any], *, finish: str | None = None, usage: bool = True, **message: Any) -> dict[str, Any]:
    if finish is not None:
        body["choices"][0]["finish_reason"] = finish
    if not usage:
        del body["usage"]
    body["choices"][0]["message"].update(message)
    return body


def test_vllm_null_content_and_string_arguments(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(shaped(completion(tool_calls=[CALL], model="Qwen/Qwen2.5-7B-Instruct"), content=None))
    double.push(shaped(completion(content=ANSWER, model="Qwen/Qwen2.5-7B-Instruct"), tool_calls=[]))  # vLLM: empty list
    ans = ask(ctx, registry, double, tmp_path, "Qwen/Qwen2.5-7B-Instruct")
    assert ans.path == "llm" and ans.fallback is None and ans.text == ANSWER
    assert ans.calls[0].args == {"scope": "checkout", "window": "30d"}


def test_ollama_finish_reason_stop_with_tool_calls(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """Ollama's /v1 reports finish_reason "stop" on a tool-calling turn."""
    double.push(shaped(completion(tool_calls=[CALL], model="qwen2.5:0.5b"), finish="stop", content=""))
    double.push(completion(content=ANSWER, model="qwen2.5:0.5b"))
    ans = ask(ctx, registry, double, tmp_path, "qwen2.5:0.5b")
    assert ans.path == "llm" and ans.fallback is None and [c.tool for c in ans.calls] == ["dora_metrics"]


def test_llama_cpp_missing_usage_and_function_call_finish(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(shaped(completion(tool_calls=[CALL]), finish="function_call", usage=False))
    double.push(shaped(completion(content=ANSWER), usage=False))
    ans = ask(ctx, registry, double, tmp_path, "smollm2")
    assert ans.path == "llm" and ans.fallback is None
    assert ans.usage.llm_calls == 2 and ans.usage.total_tokens == 0 and ans.usage.cost_usd is None  # unknown, not invented
    assert double.requests[0]["max_tokens"] == 512  # the field llama.cpp reads


def test_litellm_extra_fields(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    first = completion(tool_calls=[CALL], model="ollama/llama3.1")
    first["system_fingerprint"] = None
    first["usage"]["prompt_tokens_details"] = {"cached_tokens": 480}
    first["choices"][0]["message"]["provider_specific_fields"] = {"refusal": None}
    double.push(first)
    double.push(completion(content=ANSWER, model="ollama/llama3.1"))
    ans = ask(ctx, registry, double, tmp_path, "ollama/llama3.1")
    assert ans.path == "llm" and ans.fallback is None and ans.usage.input_tokens == 1000


def test_streamed_tool_call_deltas(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push_stream(chunks(tool_calls=[CALL], usage=(700, 30)))
    double.push_stream(chunks(content=["Checkout shipped 10 deployments ", "in the last 30 days; 20% failed ", "[dora_metrics]."]))
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_STREAM="1")
    assert double.requests[0]["stream"] is True
    assert ans.path == "llm" and ans.fallback is None and ans.text == ANSWER
    assert ans.calls[0].args == {"scope": "checkout", "window": "30d"}
    assert ans.usage.input_tokens == 1200 and ans.usage.output_tokens == 80


def test_a_timed_out_stream_is_cancelled_not_abandoned(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """A model that rambles past the answer's time: the client closes the stream at the next
    token, so the server stops generating; the planner answers and says what happened."""
    rambling = chunks(content=["word "] * 200, usage=None)
    double.push_stream(rambling, every=0.05)
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_STREAM="1", TRIOPS_AGENT_MAX_SECONDS="1")
    assert ans.path == "planner" and ans.fallback == "timeout" and "cancelled" in ans.text
    deadline = time.monotonic() + 5
    while double.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert double.cancelled == 1 and double.sent_chunks < len(rambling)  # it stopped before the end
    assert len(double.requests) == 1  # and never sent again


def test_429_with_retry_after_is_retried_once(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429, headers={"Retry-After": "1"})
    double.push(completion(tool_calls=[CALL]))
    double.push(completion(content=ANSWER))
    started = time.monotonic()
    ans = ask(ctx, registry, double, tmp_path)
    assert ans.path == "llm" and ans.fallback is None and len(double.requests) == 3
    assert time.monotonic() - started >= 1.0  # the server's Retry-After was honoured


def test_retry_after_beyond_the_budget_falls_back_at_once(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push({"error": {"message": "overloaded", "type": "server_error"}}, status=503, headers={"Retry-After": "120"})
    ans = ask(ctx, registry, double, tmp_path)
    assert len(double.requests) == 1
    assert ans.path == "planner" and ans.fallback == "llm_error" and "HTTP 503" in ans.text


def test_tool_choice_required_on_the_first_step_only(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(completion(tool_calls=[CALL]))
    double.push(completion(content=ANSWER))
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_TOOL_CHOICE="required_first")
    assert ans.fallback is None
    assert [r["tool_choice"] for r in double.requests] == ["required", "auto"]


def test_tool_choice_off_sends_none(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(completion(tool_calls=[CALL]))
    double.push(completion(content=ANSWER))
    ask(ctx, registry, double, tmp_path, TRIOPS_LLM_TOOL_CHOICE="off")
    assert all("tool_choice" not in r for r in double.requests)


def test_compact_tool_set_for_a_small_context(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(completion(tool_calls=[CALL]))
    double.push(completion(content=ANSWER))
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_CONTEXT_TOKENS="4096")
    assert ans.fallback is None
    offered = [t["function"]["name"] for t in double.requests[0]["tools"]]
    assert "dora_metrics" in offered and len(offered) == 3  # the planner's top-ranked tools only
    assert offered == sorted(offered)
    full = sum(len(json.dumps(schema_of(t))) for t in offered_tools(registry))
    assert len(json.dumps(double.requests[0]["tools"])) < full / 2


def test_a_tool_outside_the_compact_set_still_runs(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """The compact set trims the prompt, not what may run: a valid read-only tool the model
    names anyway goes through the same validated session."""
    double.push(completion(content='<tool_call>{"name": "model_status", "arguments": {"name": "fraud-scorer"}}</tool_call>'))
    double.push(completion(content="fraud-scorer needs a retrain [model_status]."))
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_CONTEXT_TOKENS="4096")
    offered = [t["function"]["name"] for t in double.requests[0]["tools"]]
    assert "model_status" not in offered
    assert ans.path == "llm" and ans.fallback is None and [c.tool for c in ans.calls] == ["model_status"]
    props = double.requests[0]["tools"][0]["function"]["parameters"]["properties"]
    assert all("title" not in p and "anyOf" not in p for p in props.values())  # lean schemas


def test_tools_in_the_prompt_for_a_template_that_drops_them(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    double.push(completion(content='<tool_call>{"name": "dora_metrics", "arguments": {"scope": "checkout", "window": "30d"}}</tool_call>'))
    double.push(completion(content=ANSWER))
    ans = ask(ctx, registry, double, tmp_path, TRIOPS_LLM_TOOLS_IN_PROMPT="1", TRIOPS_LLM_CONTEXT_TOKENS="4096")
    system = double.requests[0]["messages"][0]["content"]
    assert '<tool_call>{"name": ' in system and '- dora_metrics(scope: string, service: string, team: string, window: string = "30d"' in system
    assert ans.path == "llm" and ans.fallback is None and ans.text == ANSWER
