"""`triops ask`, `triops usage`, `triops eval agent` on the command line and in code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.agent import eval_world
from bot.agent.evaluation import Case, load_cases, run_eval
from bot.cli import app
from tests.agent.conftest import ScriptedChatModel, call, make_settings, say
from tools.persistence import open_url

runner = CliRunner()
EVAL = Path(__file__).resolve().parents[2] / "bench" / "agent_eval.yaml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    store = open_url(f"sqlite:///{tmp_path / 'triops.db'}")
    eval_world.seed(store)
    store.close()
    eval_world.catalog().dump(tmp_path / "services.yaml")
    return tmp_path


def test_ask_json_has_the_calls_their_arguments_and_the_answer(home: Path) -> None:
    out = runner.invoke(app, ["ask", "how did checkout ship in the last 30 days?", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["path"] == "planner" and data["intent"] == "dora"
    (c,) = data["tool_calls"]
    assert c["tool"] == "dora_metrics" and c["args"] == {"service": "checkout", "window": "30d"} and c["ok"]
    assert c["output"]["scope"]["name"] == "checkout"
    assert data["answer"].startswith("Delivery performance (DORA) for *checkout*")
    assert data["grounding"]["grounded"] is True


def test_ask_text_and_follow_up_thread(home: Path) -> None:
    out = runner.invoke(app, ["ask", "dora for payments over 30d", "--thread", "t1"])
    assert out.exit_code == 0, out.output
    assert "payments" in out.output and "built-in planner" in out.output
    out = runner.invoke(app, ["usage", "--json"])
    lines = json.loads(out.output)["lines"]  # the assistant_usage tool's output model
    assert lines[0]["path"] == "planner" and lines[0]["answers"] >= 1


def test_ask_unknown_service_is_a_clear_answer_not_a_crash(home: Path) -> None:
    out = runner.invoke(app, ["ask", "dora for nowhere-service over 30d", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    call = data["tool_calls"][0]
    assert call["ok"] is True and "scope" not in call["args"]  # no name recognised: org-wide…
    assert "for the whole org" in data["answer"]  # …and the answer says so
    assert "Traceback" not in out.output


def test_eval_agent_cli_planner_targets(home: Path) -> None:
    out = runner.invoke(app, ["eval", "agent", "--cases", str(EVAL), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    (planner,) = report["summaries"]
    assert planner["path"] == "planner" and planner["routing_accuracy"] >= 0.9
    assert planner["grounded_share"] == 1.0 and planner["facts_scored"] >= 30
    # every question routed right (intent and tools) has every hand-known fact in its answer
    routed = [r for r in report["results"] if r["routed"]]
    assert routed and all(not r["facts_missing"] for r in routed), [r for r in routed if r["facts_missing"]]


def test_eval_scores_the_llm_path(tmp_path: Path) -> None:
    cases = [
        Case(question="how did checkout ship in the last 30 days?", intent="dora", tools=["dora_metrics"], facts=["10", "20"]),
        Case(question="hello", intent="smalltalk"),
        Case(question="how did payments ship in the last 30 days?", intent="dora", tools=["dora_metrics"], facts=["4"]),
    ]
    model = ScriptedChatModel(script=[
        call("dora_metrics", {"scope": "checkout", "window": "30d"}),
        say("Checkout: 10 deployments, 20% failed [dora_metrics]."),
        say("Hello!"),
        say("Payments shipped 7 deployments."),  # no tool call and a made-up figure
    ])
    settings = make_settings(tmp_path)
    report = run_eval(cases, settings, model=model, llm=True)
    llm = next(s for s in report.summaries if s.path == "llm")
    assert llm.questions == 3 and llm.routing_accuracy == pytest.approx(2 / 3, abs=1e-4)  # payments: no tool called
    assert llm.grounded_share == pytest.approx(2 / 3, abs=1e-4) and llm.fallbacks == 1
    assert llm.fallback_rate == pytest.approx(1 / 3, abs=1e-4) and llm.fallback_reasons == {"no_tool_call": 1}
    assert llm.tokens_per_question == pytest.approx((120 + 240 * 3) / 3)  # 2 model calls, then 1 and 1
    assert llm.args_accuracy == 1.0 and llm.args_scored == 1  # checkout, 30d: as the planner called it
    assert llm.correctness == pytest.approx(2 / 3, abs=1e-4) and llm.model == "gpt-4o-mini"
    assert llm.p95_latency_ms >= llm.p50_latency_ms
    payments = [r for r in report.results if r.path == "llm"][2]
    # the planner's fallback shows 4, but the model's own answer was not grounded: it does not count
    assert payments.fallback == "no_tool_call" and payments.facts_missing == [] and not payments.grounded
    assert not payments.correct
    assert report.llm_intents == ["smalltalk"]  # dora: the planner was right 2/2, the LLM 1/2


def test_eval_cases_file_is_valid() -> None:
    cases = load_cases(EVAL)
    assert len(cases) >= 50 and {c.intent for c in cases} >= {"dora", "alerts", "triage", "runbook", "model_status", "drift", "help", "smalltalk"}


def test_chat_answers_plain_words_and_follow_ups(home: Path) -> None:
    out = runner.invoke(app, ["chat"], input="how did checkout ship in the last 30 days?\nand payments?\nquit\n")
    assert out.exit_code == 0, out.output
    assert "DORA · service checkout · last 30d" in out.output
    assert "DORA · service payments · last 30d" in out.output  # the follow-up kept intent and window
