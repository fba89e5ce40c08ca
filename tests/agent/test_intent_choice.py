"""The per-intent choice `triops eval agent --llm` learns is the assistant's default: saved
only when the run measured the model, merged intent by intent, said where, read cheaply."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.agent import intent_choice
from bot.agent.evaluation import Case, run_eval
from bot.agent.service import Assistant
from bot.cli import app
from tests.agent.conftest import ScriptedChatModel, call, make_settings, say
from tests.agent.openai_double import OpenAIDouble, completion
from tools.contract import ToolContext, ToolRegistry
from tools.settings import Settings

DORA = Case(question="how did checkout ship in the last 30 days?", intent="dora", tools=["dora_metrics"], facts=["10"])
HELLO = Case(question="hello", intent="smalltalk")
THANKS = Case(question="thanks a lot", intent="smalltalk")
CASES = [DORA, HELLO]


def _evaluate(settings_home: Path, **over: str) -> list[str] | None:
    # the model answers the data question with no tool call (a made-up figure), and greets well
    model = ScriptedChatModel(script=[say("Checkout shipped 7 deployments."), say("Hello!")])
    return run_eval(CASES, make_settings(settings_home, **over), model=model, llm=True).llm_intents


def _asks_the_model(registry: ToolRegistry, ctx: ToolContext, settings: Settings, question: str) -> bool:
    model = ScriptedChatModel(script=[say("Hi there!")])
    Assistant(registry, ctx, settings, model=model).ask(question, remember=False)
    return bool(model.seen)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: the endpoint is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def double() -> Iterator[OpenAIDouble]:
    with OpenAIDouble() as d:
        yield d


def test_after_an_eval_the_intents_the_model_lost_go_to_the_planner(ctx: ToolContext, registry: ToolRegistry,
                                                                     tmp_path: Path) -> None:
    assert intent_choice.current(ctx.settings) is None  # never measured: the model answers all
    assert _evaluate(tmp_path) == ["smalltalk"]
    assert intent_choice.learned(ctx.settings) == {"dora": False, "smalltalk": True}
    model = ScriptedChatModel(script=[say("Hi there!")])
    assistant = Assistant(registry, ctx, ctx.settings, model=model)
    dora = assistant.ask("how did checkout ship in the last 30 days?")
    assert dora.path == "planner" and dora.fallback is None and model.seen == []  # not even asked
    assert "checkout" in dora.text
    hello = assistant.ask("hello")
    assert hello.path == "llm" and hello.text == "Hi there!" and len(model.seen) == 1


def test_the_setting_overrides_the_learned_choice_and_it_is_kept_per_model(tmp_path: Path) -> None:
    _evaluate(tmp_path)
    assert intent_choice.current(make_settings(tmp_path, TRIOPS_LLM_INTENTS="all")) is None
    none = intent_choice.current(make_settings(tmp_path, TRIOPS_LLM_INTENTS="none"))
    assert none is not None and not none.allows("smalltalk") and not none.allows("dora")
    listed = intent_choice.current(make_settings(tmp_path, TRIOPS_LLM_INTENTS="dora,alerts"))
    assert listed is not None and listed.allows("dora") and listed.allows("alerts") and not listed.allows("smalltalk")
    # another model, or the same name on another endpoint, was not measured
    assert intent_choice.current(make_settings(tmp_path, TRIOPS_LLM_MODEL="qwen2.5:1.5b")) is None
    assert intent_choice.current(make_settings(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:8080/v1")) is None


def test_an_unreadable_choice_file_means_no_learned_choice(tmp_path: Path) -> None:
    (tmp_path / intent_choice.FILE).write_text("{not json")
    assert intent_choice.learned(make_settings(tmp_path)) is None
    _evaluate(tmp_path)  # the next eval writes it anew
    assert intent_choice.learned(make_settings(tmp_path)) == {"dora": False, "smalltalk": True}


def test_a_choice_saved_by_the_previous_version_still_sends_the_other_intents_to_the_planner(
        ctx: ToolContext, registry: ToolRegistry, tmp_path: Path) -> None:
    # the format before per-intent verdicts: the intents the model may answer, every other to the planner
    legacy = {"model": "gpt-4o-mini", "intents": ["smalltalk"], "cases": 2, "measured_at": "2026-11-30T10:00:00+00:00"}
    (tmp_path / intent_choice.FILE).write_text(json.dumps({intent_choice.key(ctx.settings): legacy}))
    choice = intent_choice.current(ctx.settings)
    assert choice is not None and choice.allows("smalltalk") and not choice.allows("dora")
    assert not _asks_the_model(registry, ctx, ctx.settings, "how did checkout ship in the last 30 days?")
    assert _asks_the_model(registry, ctx, ctx.settings, "hello")
    # an eval of dora alone, which the model now wins, changes dora only: alerts stays with the planner
    right = ScriptedChatModel(script=[call("dora_metrics", {"scope": "checkout", "window": "30d"}),
                                      say("Checkout: 10 deployments, 20% failed [dora_metrics].")])
    run_eval([DORA], ctx.settings, model=right, llm=True)
    assert intent_choice.learned(ctx.settings) == {"dora": True}
    choice = intent_choice.current(ctx.settings)
    assert choice is not None and choice.allows("dora") and choice.allows("smalltalk") and not choice.allows("alerts")


# --- 6a: an eval that measured the endpoint, not the model, changes nothing -------------------------
def test_an_eval_with_the_endpoint_down_saves_nothing_and_says_so(ctx: ToolContext, registry: ToolRegistry,
                                                                  tmp_path: Path, closed_port: int) -> None:
    down = make_settings(tmp_path, OPENAI_BASE_URL=f"http://127.0.0.1:{closed_port}/v1", TRIOPS_LLM_MODEL="local")
    report = run_eval(CASES, down, llm=True)  # the real client, connection refused on every answer
    assert {r.fallback for r in report.results if r.path == "llm"} == {"llm_unreachable"}
    assert report.llm_choice is not None and report.llm_choice.startswith("LLM choice not saved")
    assert "llm_unreachable 2" in report.llm_choice and report.llm_intents is None
    assert not (tmp_path / intent_choice.FILE).exists()
    assert _asks_the_model(registry, ctx, down, "how did checkout ship in the last 30 days?")  # routing unchanged


def test_an_eval_failing_on_http_errors_and_timeouts_keeps_the_earlier_choice(tmp_path: Path, double: OpenAIDouble) -> None:
    over = {"OPENAI_BASE_URL": double.base_url, "TRIOPS_LLM_MODEL": "local"}
    _evaluate(tmp_path, **over)
    before = intent_choice.learned(make_settings(tmp_path, **over))
    assert before == {"dora": False, "smalltalk": True}
    report = run_eval(CASES, make_settings(tmp_path, **over), llm=True)  # the double answers HTTP 500 to all
    assert [r.fallback for r in report.results if r.path == "llm"] == ["llm_error", "llm_error"]
    assert report.llm_choice is not None and "not saved" in report.llm_choice and "llm_error 2" in report.llm_choice
    timeouts = ScriptedChatModel(script=[TimeoutError("read timed out"), TimeoutError("read timed out")])
    report = run_eval(CASES, make_settings(tmp_path, **over), model=timeouts, llm=True)
    assert report.llm_choice is not None and "not saved" in report.llm_choice and "timeout 2" in report.llm_choice
    assert intent_choice.learned(make_settings(tmp_path, **over)) == before


def test_an_intent_the_endpoint_failed_on_is_not_measured_when_others_were(tmp_path: Path) -> None:
    model = ScriptedChatModel(script=[say("Checkout shipped 7 deployments."), ConnectionRefusedError("refused")])
    report = run_eval(CASES, make_settings(tmp_path), model=model, llm=True)
    assert report.llm_choice is not None and "saved to" in report.llm_choice
    assert intent_choice.learned(make_settings(tmp_path)) == {"dora": False}  # smalltalk: no verdict


def test_one_timeout_in_a_clean_run_is_left_out_and_the_rest_is_saved(tmp_path: Path) -> None:
    # dora answered right, one greeting right, the other greeting timed out: the only failure
    model = ScriptedChatModel(script=[call("dora_metrics", {"scope": "checkout", "window": "30d"}),
                                      say("Checkout: 10 deployments, 20% failed [dora_metrics]."),
                                      say("Hello!"), TimeoutError("read timed out")])
    report = run_eval([DORA, HELLO, THANKS], make_settings(tmp_path), model=model, llm=True)
    llm = [r for r in report.results if r.path == "llm"]
    assert [r.fallback for r in llm] == [None, None, "timeout"]
    assert [r.correct for r in report.results if r.path == "planner"] == [True, True, True]
    assert report.llm_choice is not None and "saved to" in report.llm_choice and "timeout 1" in report.llm_choice
    # smalltalk: the timeout is not a wrong answer, so 1/1 measured is as correct as the planner's 2/2
    assert intent_choice.learned(make_settings(tmp_path)) == {"dora": True, "smalltalk": True}
    assert report.llm_intents == ["dora", "smalltalk"]


# --- 6b: a partial cases file changes only the intents it covers -----------------------------------
def test_an_eval_of_some_intents_leaves_the_others_as_they_were(ctx: ToolContext, registry: ToolRegistry,
                                                                tmp_path: Path) -> None:
    greets = ScriptedChatModel(script=[say("Hello!")])
    run_eval([HELLO], ctx.settings, model=greets, llm=True)
    # dora was never evaluated: the model still answers it, as before any eval
    assert _asks_the_model(registry, ctx, ctx.settings, "how did checkout ship in the last 30 days?")
    _evaluate(tmp_path)  # both: the model loses dora
    right = ScriptedChatModel(script=[call("dora_metrics", {"scope": "checkout", "window": "30d"}),
                                      say("Checkout: 10 deployments, 20% failed [dora_metrics].")])
    report = run_eval([DORA], ctx.settings, model=right, llm=True)  # dora only: now the model wins it
    assert report.llm_intents == ["dora"]
    assert intent_choice.learned(ctx.settings) == {"dora": True, "smalltalk": True}
    assert _asks_the_model(registry, ctx, ctx.settings, "hello")  # smalltalk kept its verdict


# --- 6c: the CLI says where the choice went ----------------------------------------------------------
def _cli_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, double: OpenAIDouble, cases: list[Case]) -> str:
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    monkeypatch.setenv("OPENAI_BASE_URL", double.base_url)
    monkeypatch.setenv("TRIOPS_LLM_MODEL", "local")
    monkeypatch.delenv("TRIOPS_LLM_INTENTS", raising=False)
    path = tmp_path / "cases.yaml"
    path.write_text("cases:\n" + "".join(f"- {c.model_dump_json()}\n" for c in cases))
    out = CliRunner().invoke(app, ["eval", "agent", "--llm", "--cases", str(path)])
    assert out.exit_code in (0, 1), out.output  # 1: the planner's own targets on two questions
    return "".join(out.output.split())  # the console wraps long paths


def test_the_cli_prints_where_the_choice_was_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  double: OpenAIDouble) -> None:
    double.push(completion(content="Hello!"))
    out = _cli_eval(tmp_path, monkeypatch, double, [HELLO])
    assert "savedto" + str(tmp_path / intent_choice.FILE) in out
    assert intent_choice.learned(make_settings(tmp_path, OPENAI_BASE_URL=double.base_url,
                                               TRIOPS_LLM_MODEL="local")) == {"smalltalk": True}


def test_the_cli_says_the_choice_was_not_saved_when_the_endpoint_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        double: OpenAIDouble) -> None:
    out = _cli_eval(tmp_path, monkeypatch, double, CASES)  # nothing scripted: HTTP 500 to every request
    assert "LLMchoicenotsaved:everyLLManswerwasanendpointfailure(llm_error2)" in out
    assert not (tmp_path / intent_choice.FILE).exists()


# --- 6d: read once per change, not once per question --------------------------------------------------
def test_the_choice_file_is_reread_only_when_it_changes(tmp_path: Path) -> None:
    _evaluate(tmp_path)
    settings = make_settings(tmp_path)
    assert intent_choice.learned(settings) == {"dora": False, "smalltalk": True}
    path = tmp_path / intent_choice.FILE
    stat = path.stat()
    text = path.read_text()
    assert text.count('"llm": false') == 1
    with path.open("r+") as f:  # same inode, same size, same mtime: not read again
        f.write(text.replace('"llm": false', '"llm": true '))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert intent_choice.learned(settings) == {"dora": False, "smalltalk": True}
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a hand edit: picked up
    assert intent_choice.learned(settings) == {"dora": True, "smalltalk": True}
