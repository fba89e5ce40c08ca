"""The per-intent choice `triops eval agent --llm` learns is the assistant's default."""

from __future__ import annotations

from pathlib import Path

from bot.agent import intent_choice
from bot.agent.evaluation import Case, run_eval
from bot.agent.service import Assistant
from tests.agent.conftest import ScriptedChatModel, make_settings, say
from tools.contract import ToolContext, ToolRegistry

CASES = [
    Case(question="how did checkout ship in the last 30 days?", intent="dora", tools=["dora_metrics"], facts=["10"]),
    Case(question="hello", intent="smalltalk"),
]


def _evaluate(settings_home: Path) -> list[str] | None:
    # the model answers the data question with no tool call (a made-up figure), and greets well
    model = ScriptedChatModel(script=[say("Checkout shipped 7 deployments."), say("Hello!")])
    return run_eval(CASES, make_settings(settings_home), model=model, llm=True).llm_intents


def test_after_an_eval_the_intents_the_model_lost_go_to_the_planner(ctx: ToolContext, registry: ToolRegistry,
                                                                     tmp_path: Path) -> None:
    assert intent_choice.allowed_intents(ctx.settings) is None  # never measured: the model answers all
    assert _evaluate(tmp_path) == ["smalltalk"]
    assert intent_choice.allowed_intents(ctx.settings) == {"smalltalk"}
    model = ScriptedChatModel(script=[say("Hi there!")])
    assistant = Assistant(registry, ctx, ctx.settings, model=model)
    dora = assistant.ask("how did checkout ship in the last 30 days?")
    assert dora.path == "planner" and dora.fallback is None and model.seen == []  # not even asked
    assert "checkout" in dora.text
    hello = assistant.ask("hello")
    assert hello.path == "llm" and hello.text == "Hi there!" and len(model.seen) == 1


def test_the_setting_overrides_the_learned_choice_and_it_is_kept_per_model(tmp_path: Path) -> None:
    _evaluate(tmp_path)
    assert intent_choice.allowed_intents(make_settings(tmp_path, TRIOPS_LLM_INTENTS="all")) is None
    assert intent_choice.allowed_intents(make_settings(tmp_path, TRIOPS_LLM_INTENTS="none")) == set()
    assert intent_choice.allowed_intents(make_settings(tmp_path, TRIOPS_LLM_INTENTS="dora,alerts")) == {"dora", "alerts"}
    # another model, or the same name on another endpoint, was not measured
    assert intent_choice.allowed_intents(make_settings(tmp_path, TRIOPS_LLM_MODEL="qwen2.5:1.5b")) is None
    assert intent_choice.allowed_intents(make_settings(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:8080/v1")) is None


def test_an_unreadable_choice_file_means_no_learned_choice(tmp_path: Path) -> None:
    (tmp_path / intent_choice.FILE).write_text("{not json")
    assert intent_choice.learned(make_settings(tmp_path)) is None
    _evaluate(tmp_path)  # the next eval writes it anew
    assert intent_choice.learned(make_settings(tmp_path)) == {"smalltalk"}
