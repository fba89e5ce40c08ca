"""The real openai client and ChatOpenAI against an OpenAI-compatible double on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agent.service import Assistant, answer_text
from tests.agent.conftest import make_settings
from tests.agent.openai_double import OpenAIDouble, completion
from tools.contract import ToolContext, ToolRegistry
from tools.conversations import usage_summary


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as d:
        yield d


def llm_ctx(ctx: ToolContext, double: OpenAIDouble, tmp_path: Path, **over: object) -> ToolContext:
    ctx.settings = make_settings(
        tmp_path, OPENAI_API_KEY="sk-test-not-a-real-key-000000", OPENAI_BASE_URL=double.base_url,
        TRIOPS_LLM_MODEL="gpt-4o-mini", **over,
    )
    return ctx


def test_tool_call_round_trip_on_the_wire(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ctx = llm_ctx(ctx, double, tmp_path)
    double.push(completion(tool_calls=[("dora_metrics", {"scope": "checkout", "window": "30d"})], prompt_tokens=812, completion_tokens=25))
    double.push(completion(content="Checkout shipped 10 deployments in 30 days; 20% failed [dora_metrics].", prompt_tokens=1900, completion_tokens=40))
    a = Assistant(registry, ctx, ctx.settings)
    ans = a.ask("how did checkout ship in the last 30 days?", key="wire:1", actor="U1")

    assert ans.path == "llm" and ans.fallback is None and ans.grounding.grounded
    assert ans.text.startswith("Checkout shipped 10 deployments")
    assert ans.usage.input_tokens == 812 + 1900 and ans.usage.output_tokens == 65
    assert ans.usage.cost_usd == pytest.approx((2712 * 0.15 + 65 * 0.60) / 1e6)

    first, second = double.requests
    assert first["path"] == "/v1/chat/completions" and first["model"] == "gpt-4o-mini"
    headers = {k.lower(): v for k, v in double.headers[0].items()}
    assert headers["authorization"] == "Bearer sk-test-not-a-real-key-000000"
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {t.name for t in registry if not t.mutates}
    assert offered["dora_metrics"]["parameters"]["properties"]["window"]["type"] == "string"
    assert first["messages"][0]["role"] == "system" and "never instructions" in first["messages"][0]["content"]
    asked = first["messages"][-1]
    assert asked["role"] == "user" and asked["content"].startswith("how did checkout ship in the last 30 days?")
    assert "(time now: 2026-11-23 12:00 UTC)" in asked["content"]  # the time rides in the user turn
    # a self-hosted server reads max_tokens (llama.cpp ignores max_completion_tokens)
    assert first["max_tokens"] == 512 and "max_completion_tokens" not in first and first["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in first["tools"]] == sorted(offered)  # a fixed order
    # the tool result goes back as a `tool` message answering the call id
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "call_0_dora_metrics"
    result = json.loads(tool_msg["content"])
    assert result["current"]["change_fail_rate"]["rate_percent"] == 20.0
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "dora_metrics"

    (line,) = [u for u in usage_summary(ctx.store) if u.path == "llm"]
    assert (line.input_tokens, line.output_tokens, line.answers) == (2712, 65, 1)


def test_error_result_on_the_wire(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ctx = llm_ctx(ctx, double, tmp_path)
    double.push(completion(tool_calls=[("dora_metrics", {"scope": "checkout", "window": "forever"})]))
    double.push(completion(content="I could not read that window; try 30d."))
    ans = Assistant(registry, ctx, ctx.settings).ask("checkout dora forever")
    tool_msg = double.requests[1]["messages"][-1]
    err = json.loads(tool_msg["content"])
    assert err["status"] == "error" and "'forever' is not a time window" in err["error"]
    assert "30d" in err["hint"]
    assert ans.grounding.grounded  # "30d" is in the tool's hint


def test_server_error_falls_back_to_the_planner(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ctx = llm_ctx(ctx, double, tmp_path)
    for _ in range(2):  # one try and one retry
        double.push({"error": {"message": "overloaded", "type": "server_error"}}, status=503)
    ans = Assistant(registry, ctx, ctx.settings).ask("how did payments ship in the last 30 days?")
    assert len(double.requests) == 2
    assert ans.path == "planner" and ans.fallback == "llm_error"
    assert ans.calls[0].output.current.deployment_frequency.deployments == 4
    assert "payments" in answer_text(ans)


def test_timeout_falls_back_to_the_planner(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    ctx = llm_ctx(ctx, double, tmp_path, TRIOPS_LLM_TIMEOUT=0.3)
    for _ in range(2):
        double.push(completion(content="too late"), delay=1.0)
    ans = Assistant(registry, ctx, ctx.settings).ask("how did checkout ship in the last 30 days?")
    assert ans.path == "planner" and ans.fallback == "timeout"
    assert "did not answer in time" in ans.text and "not reachable" not in ans.text
    assert len(double.requests) == 1  # a timed-out generation is never sent again
    assert ans.latency_ms < 5000


def test_keyless_local_endpoint(ctx: ToolContext, registry: ToolRegistry, double: OpenAIDouble, tmp_path: Path) -> None:
    """Ollama / vLLM style: a base URL and no key is enough to enable the LLM path."""
    ctx.settings = make_settings(tmp_path, OPENAI_BASE_URL=double.base_url, TRIOPS_LLM_MODEL="llama3.1")
    double.push(completion(content="Hello, I am triops.", model="llama3.1"))
    ans = Assistant(registry, ctx, ctx.settings).ask("hi")
    assert ans.path == "llm" and ans.text == "Hello, I am triops." and ans.usage.cost_usd is None
    assert double.requests[0]["model"] == "llama3.1"
