"""Tool calls written as text, near-miss names, and claims checked against tool outputs."""

from __future__ import annotations

import pytest

from bot.agent.grounding import check_claims
from bot.agent.textcalls import TextCall, closest, looks_like_payload, parse, resolve
from bot.agent.toolkit import offered_tools, schema_of, tool_output_chars
from bot.capabilities import capabilities
from tests.agent.conftest import make_settings

DORA = TextCall("dora_metrics", {"scope": "checkout", "window": "30d"})


@pytest.mark.parametrize("text", [
    '{"name": "dora_metrics", "arguments": {"scope": "checkout", "window": "30d"}}',
    '<tool_call>\n{"name": "dora_metrics", "arguments": {"scope": "checkout", "window": "30d"}}\n</tool_call>',
    'I will look it up.\n```json\n{"name": "dora_metrics", "parameters": {"scope": "checkout", "window": "30d"}}\n```',
    '[{"type": "function", "function": {"name": "dora_metrics", "arguments": "{\\"scope\\": \\"checkout\\", \\"window\\": \\"30d\\"}"}}]',
    '{"tool_calls": [{"function": {"name": "dora_metrics", "arguments": {"scope": "checkout", "window": "30d"}}}]}',
    '{"name": "dora_metrics", "scope": "checkout", "window": "30d"}',
    '<tool_call>{"name": "dora_metrics", "arguments": {"scope": "checkout", "window": "30d"}}',  # unclosed tag
])
def test_text_calls_are_recognised(text: str) -> None:
    assert parse(text) == [DORA]
    assert looks_like_payload(text)


@pytest.mark.parametrize("text", [
    "Checkout shipped 10 deployments in 30 days [dora_metrics].",
    "The config is {not json} and that is fine.",
    "",
    'The tool said {"deployments": 10} for checkout.',  # JSON quoted inside prose
])
def test_prose_is_not_a_call(text: str) -> None:
    assert parse(text) == []
    assert not looks_like_payload(text)


def test_special_tokens_and_bare_json_are_payloads() -> None:
    assert looks_like_payload("<|im_start|>assistant\nhello")
    assert looks_like_payload('{"deployments": 10, "window": "30d"}')


def test_two_calls_in_tags() -> None:
    text = ('<tool_call>{"name": "alerts_list", "arguments": {}}</tool_call>\n'
            '<tool_call>{"name": "runbook_search", "arguments": {"query": "checkout errors"}}</tool_call>')
    assert [c.name for c in parse(text)] == ["alerts_list", "runbook_search"]


NAMES = sorted(t.name for t in offered_tools(capabilities().registry()))


@pytest.mark.parametrize(("written", "meant"), [
    ("dora_metrics", "dora_metrics"), ("DoraMetrics", "dora_metrics"), ("dora-metrics", "dora_metrics"),
    ("dora_metric", "dora_metrics"), ("dora", "dora_metrics"), ("model-status", "model_status"),
    ("runbook_serach", "runbook_search"), ("alert_list", "alerts_list"),
    ("checkout_ship", None), ("get_weather", None), ("delete_everything", None),
])
def test_near_miss_tool_names(written: str, meant: str | None) -> None:
    assert closest(written, NAMES) == meant


def test_argument_names_are_mapped_onto_the_schema() -> None:
    schemas = {t.name: schema_of(t) for t in offered_tools(capabilities().registry())}
    r = resolve("dora_metric", {"service_name": "payments", "days": 30, "colour": "red"}, schemas)
    assert r.name == "dora_metrics" and r.args == {"service": "payments", "window": "30d"}
    assert r.renamed == {"dora_metric": "dora_metrics", "service_name": "service", "days": "window"}
    assert r.dropped == ["colour"]
    assert resolve("checkout_ship", {"service": "checkout"}, schemas).name is None


def test_tool_output_cap_follows_the_context(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert tool_output_chars(make_settings(tmp_path)) == 6000
    small = make_settings(tmp_path, TRIOPS_LLM_CONTEXT_TOKENS="4096", TRIOPS_LLM_MAX_TOKENS="256")
    assert tool_output_chars(small, prompt_tokens=1500) == int((4096 - 1500 - 256) * 0.4 * 3.5)
    assert tool_output_chars(small, prompt_tokens=4000) == 400  # never below a readable minimum


# --- claims ----------------------------------------------------------------------------------
RANKER = {"name": "search-ranker", "recommendation": "retrain",
          "drift": {"dataset_drift": True, "n_drifted": 2, "top": [{"column": "price", "drifted": False}]}}
SCORER = {"name": "fraud-scorer", "recommendation": "keep", "drift": {"dataset_drift": False, "n_drifted": 0}}
INCIDENTS = {"state": "open", "incidents": [{"id": "inc-1", "status": "open", "title": "HighErrorRate on search",
                                             "services": ["search"], "resolved_at": None,
                                             "probable_causes": [{"service": "search", "suspect_change": "search-d0"}]}]}


@pytest.mark.parametrize(("text", "outputs"), [
    ("search-ranker is drifting and needs a retrain.", [RANKER]),
    ("fraud-scorer is ok and not drifting.", [SCORER]),
    ("fraud-scorer is healthy; search-ranker is drifting.", [RANKER, SCORER]),
    ("One incident is open for search, probably caused by the change search-d0.", [INCIDENTS]),
    ("I don't have data on that.", [SCORER]),
])
def test_supported_claims(text: str, outputs: list[dict]) -> None:
    assert check_claims(text, outputs) == []


@pytest.mark.parametrize(("text", "outputs", "kind"), [
    ("search-ranker is still ok.", [RANKER], "ok"),  # the trial: truth is retrain
    ("The input is not drifting.", [RANKER], "not drifting"),
    ("fraud-scorer is drifting.", [RANKER, SCORER], "drifting"),
    ("There are no open incidents.", [INCIDENTS], "not open"),
    ("The search incident is resolved.", [INCIDENTS], "resolved"),
    ("checkout fails because the service does not exist.", [SCORER], "existence"),
    ("Payments is slow because of the database.", [SCORER], "cause"),
])
def test_unsupported_claims(text: str, outputs: list[dict], kind: str) -> None:
    assert any(c.startswith(kind + ":") for c in check_claims(text, outputs)), check_claims(text, outputs)
