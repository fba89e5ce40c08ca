"""A capability registered in one place reaches every surface: help, the planner, the LLM's tools.

The tool, its verbs, its examples and its planner intent are declared once, in one
`Capability`; nothing in bot/agent names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from bot.agent import eval_world
from bot.agent.budget import Budget, BudgetMeter
from bot.agent.service import Assistant
from bot.agent.surface import assistant_for, make_router
from bot.agent.toolkit import ToolSession, as_langchain_tools
from bot.capabilities import Capabilities, Capability, capabilities
from bot.router import Asker
from bot.runtime import Runtime
from tests.agent.conftest import ScriptedChatModel, call, say
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.persistence import open_url
from tools.settings import Settings

MONTHLY_USD = {"checkout": 1840.0, "payments": 2210.0, "search": 3975.0, "ranking-api": 960.0}


class SpendQuery(BaseModel):
    service: str = Field(description="A service name")


class Spend(BaseModel):
    service: str
    monthly_usd: float


@tool("cloud_spend", "What a service costs to run in the cloud, per month.")
def cloud_spend(ctx: ToolContext, args: SpendQuery) -> Spend:
    if args.service not in MONTHLY_USD:
        raise ToolError(f"No cloud bill for '{args.service}'.", choices=sorted(MONTHLY_USD))
    return Spend(service=args.service, monthly_usd=MONTHLY_USD[args.service])


SPEND = Capability(
    tool=cloud_spend,
    summary="Cloud spend of a service, per month",
    verbs=("spend",),
    examples=("spend checkout",),
    intents={
        "cloud_spend": {
            "title": "Cloud spend",
            "tools": [{"tool": "cloud_spend"}],
            "keywords": ["cloud spend", "cloud bill", "spend", "costs to run", "aws bill", "billing"],
            "examples": [
                "how much does {service} cost to run?",
                "what is the cloud spend of {service}?",
                "cloud bill for {service}",
                "how much do we spend on {service} per month?",
                "what does {service} cost us in the cloud?",
                "monthly aws bill of {service}",
            ],
        }
    },
)
QUESTION = "how much do we spend on search in the cloud each month?"


def _runtime(tmp_path: Path, caps: Capabilities) -> Runtime:
    store = open_url(f"sqlite:///{tmp_path / 'one-place.db'}")
    eval_world.seed(store)
    return Runtime.build(Settings(TRIOPS_HOME=str(tmp_path)), store=store, catalog=eval_world.catalog(),
                         clock=lambda: eval_world.NOW, capabilities=caps)


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return _runtime(tmp_path, Capabilities([*capabilities(), SPEND]))


def test_it_is_in_help(rt: Runtime) -> None:
    text = make_router(rt).help_reply().text
    assert text is not None
    assert "`/triops spend SERVICE` — Cloud spend of a service, per month" in text
    assert "e.g. `/triops spend checkout`" in text


def test_a_free_text_question_routes_to_it_through_the_planner(rt: Runtime) -> None:
    reply = make_router(rt).handle(QUESTION, Asker(user="U1", surface="console", thread_ts="t1"))
    assert reply.error is None
    assert [(r.tool, r.args) for r in reply.results] == [("cloud_spend", {"service": "search"})]
    assert reply.results[0].output == Spend(service="search", monthly_usd=3975.0)
    assert reply.text is not None and reply.text.startswith("Cloud spend for *search*")
    assert assistant_for(rt).planner.intent_of_tool("cloud_spend") == "cloud_spend"
    # the verb works too, and the default capabilities still answer beside it
    assert make_router(rt).handle("spend payments").results[0].output.monthly_usd == 2210.0
    dora = make_router(rt).handle("how did checkout ship in the last 30 days?")
    assert [r.tool for r in dora.results] == ["dora_metrics"]


def test_without_the_registration_nothing_knows_it(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, Capabilities(list(capabilities())))
    reply = make_router(rt).handle(QUESTION, Asker(user="U1", surface="console", thread_ts="t1"))
    assert "cloud_spend" not in {r.tool for r in reply.results}
    assert "spend" not in (make_router(rt).help_reply().text or "")


def test_it_is_among_the_llm_tools(rt: Runtime) -> None:
    session = ToolSession(rt.registry, rt.ctx, BudgetMeter(Budget.from_settings(rt.settings)))
    offered = {t.name: t for t in as_langchain_tools(session)}
    assert {"cloud_spend", "dora_metrics", "alerts_list"} <= set(offered)
    assert json.loads(offered["cloud_spend"].invoke({"service": "checkout"})) == {"service": "checkout", "monthly_usd": 1840.0}


def test_the_llm_agent_is_offered_it_and_can_call_it(rt: Runtime) -> None:
    model = ScriptedChatModel(script=[call("cloud_spend", {"service": "payments"}),
                                      say("payments costs $2,210 a month to run [cloud_spend].")])
    a = Assistant(rt.registry, rt.ctx, rt.settings, model=model, capabilities=rt.capabilities)
    ans = a.ask("what does payments cost us in the cloud?")
    assert "cloud_spend" in {t.name for t in model.bound}
    assert ans.path == "llm" and ans.fallback is None and ans.grounding and ans.grounding.grounded
    assert [(c.tool, c.ok) for c in ans.calls] == [("cloud_spend", True)]


def test_it_is_a_cli_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from bot.cli import build_app

    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    app = build_app(Capabilities([*capabilities(), SPEND]))
    runner = CliRunner()
    assert "spend" in runner.invoke(app, ["--help"]).output
    out = runner.invoke(app, ["spend", "--service", "search", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {"service": "search", "monthly_usd": 3975.0}
    unknown = runner.invoke(app, ["spend", "--service", "nope"])
    assert unknown.exit_code == 2 and "No cloud bill for 'nope'" in unknown.output
