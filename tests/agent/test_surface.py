"""The agent behind the shared router: Reply shape, footer, help for commands unchanged."""

from __future__ import annotations

from pathlib import Path

from bot.agent import eval_world
from bot.agent.models import AgentAnswer, ToolCallRecord, Usage
from bot.agent.surface import make_router, to_reply
from bot.render import to_text
from bot.router import Asker
from bot.runtime import Runtime
from tools.errors import ErrorInfo
from tools.persistence import open_url
from tools.settings import Settings


def test_router_free_text_goes_to_the_agent_and_commands_stay_commands(tmp_path: Path) -> None:
    store = open_url(f"sqlite:///{tmp_path / 'r.db'}")
    eval_world.seed(store)
    rt = Runtime.build(Settings(TRIOPS_HOME=str(tmp_path)), store=store, catalog=eval_world.catalog(), clock=lambda: eval_world.NOW)
    router = make_router(rt)
    reply = router.handle("how did checkout ship in the last 30 days?", Asker(user="U1", surface="console", thread_ts="t"))
    assert reply.text and reply.text.startswith("Delivery performance (DORA) for *checkout*")
    assert [c.tool for c in reply.results] == ["dora_metrics"]
    assert reply.results[0].output.current.deployment_frequency.deployments == 10
    assert "built-in planner" in to_text(reply)
    cmd = router.handle("dora checkout 30d")
    assert cmd.text is None and cmd.results[0].args == {"window": "30d", "scope": "checkout"}
    assert "usage" in router.help_reply().text and "plain words" in router.help_reply().text


def test_llm_reply_is_prose_with_a_sources_footer() -> None:
    ans = AgentAnswer(
        question="q", text="**Checkout** shipped 10 deployments [dora_metrics].", path="llm",
        calls=[ToolCallRecord(tool="dora_metrics", args={"scope": "checkout"}, output=Usage())],
        usage=Usage(model="gpt-4o-mini", input_tokens=1200, output_tokens=80, llm_calls=2, cost_usd=0.000228),
    )
    reply = to_reply(ans)
    assert reply.results == []  # prose only: the figures are already checked
    assert reply.text.startswith("*Checkout* shipped 10 deployments")
    assert "_sources: `dora_metrics` · gpt-4o-mini · 1,280 tokens · $0.0002 · figures checked against the tools_" in reply.text


def test_fallback_reply_shows_the_tool_outputs() -> None:
    out = Usage(model="x")
    ans = AgentAnswer(question="q", text="_(note)_", path="llm", fallback="ungrounded", render_outputs=True,
                      calls=[ToolCallRecord(tool="t", output=out), ToolCallRecord(tool="t", status="error", message="e", refused=True)])
    reply = to_reply(ans)
    assert [r.output for r in reply.results] == [out] and reply.error is None
    assert "answer from the tools directly" in reply.text


def test_all_tools_failed_shows_the_error() -> None:
    ans = AgentAnswer(question="q", text="intro", path="planner", intent="dora", render_outputs=True,
                      calls=[ToolCallRecord(tool="dora_metrics", status="error", message="No such team", hint="h", by="planner")])
    reply = to_reply(ans)
    assert reply.error == ErrorInfo(message="No such team", hint="h") and reply.results == []


def test_a_sentence_that_starts_with_a_verb_goes_to_the_agent(tmp_path: Path) -> None:
    store = open_url(f"sqlite:///{tmp_path / 'r.db'}")
    eval_world.seed(store)
    rt = Runtime.build(Settings(TRIOPS_HOME=str(tmp_path)), store=store, catalog=eval_world.catalog(), clock=lambda: eval_world.NOW)
    router = make_router(rt)
    reply = router.handle("dora for checkout this month")
    assert reply.error is None and reply.results[0].args == {"service": "checkout", "window": "23d"}
    reply = router.handle("delivery of team payments over 2 weeks")
    assert reply.results[0].args == {"team": "team-payments", "window": "2w"}
    short = router.handle("dora chekout 30d")  # a command line with a typo keeps its precise error
    assert short.error and "chekout" in short.error.message
