"""`triops eval agent`: labelled questions → routing, facts, groundedness, latency, tokens, cost.

Runs in the eval world (bot/agent/eval_world.py), whose figures are known by hand, on a
fresh in-memory store — never on the user's data. The planner always runs; the LLM agent
runs too when an endpoint is configured.
"""

from __future__ import annotations

import fnmatch
import re
import statistics
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from bot.agent import eval_world
from bot.agent.grounding import extract
from bot.agent.models import AgentAnswer
from bot.agent.planner import Planner
from bot.agent.service import Assistant, answer_text
from bot.capabilities import Capabilities, capabilities
from tools.contract import ToolRegistry
from tools.settings import Settings

DEFAULT_CASES = Path("bench/agent_eval.yaml")


class Case(BaseModel):
    question: str
    intent: str
    tools: list[str] = Field(default_factory=list)  # names or globs; "a|b" = either
    facts: list[str] = Field(default_factory=list)


class CaseResult(BaseModel):
    question: str
    path: str
    intent: str | None = None
    expected_intent: str
    routed: bool | None  # planner: intent matched; llm: expected (registered) tools were called
    tools_called: list[str]
    tools_checked: bool  # False when none of the expected tools is registered here
    facts_missing: list[str]
    facts_checked: bool
    grounded: bool
    fallback: str | None = None
    latency_ms: float
    tokens: int
    cost_usd: float | None


class PathSummary(BaseModel):
    path: str
    questions: int
    routing_accuracy: float | None
    routing_scored: int
    facts_accuracy: float | None
    facts_scored: int
    grounded_share: float
    p50_latency_ms: float
    tokens_per_question: float
    cost_per_question_usd: float | None
    fallbacks: int


class EvalReport(BaseModel):
    cases: int
    tools: list[str]
    summaries: list[PathSummary]
    results: list[CaseResult]


def load_cases(path: Path = DEFAULT_CASES) -> list[Case]:
    data = yaml.safe_load(path.read_text())
    return [Case.model_validate(c) for c in data["cases"]]


def _matches(pattern: str, name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in pattern.split("|"))


def _fact_present(fact: str, text: str) -> bool:
    try:
        want = float(fact)
    except ValueError:
        return fact.lower() in text.lower()
    return any(abs(abs(f.value) - want) <= 0.5 * 10 ** (-f.decimals) + 1e-9 for f in extract(text).numbers)


def score(case: Case, ans: AgentAnswer, registry: ToolRegistry, run: str) -> CaseResult:
    """Score one answer of the `run` ("planner" or "llm"; an LLM run may end in the planner)."""
    names = registry.names()
    expected = [p for p in case.tools if any(_matches(p, n) for n in names)]
    # the LLM is scored on the calls it chose, not on those of a planner fallback
    called = [c.tool for c in ans.calls if not c.refused and (run == "planner" or c.by == "llm")]
    tools_ok = all(any(_matches(p, t) for t in called) for p in expected)
    if run == "planner":  # the right intent, and through it the expected (registered) tools
        routed: bool | None = ans.intent == case.intent and tools_ok
    else:
        routed = tools_ok if (expected or not case.tools) else None
    checkable = bool(expected) or not case.tools
    text = answer_text(ans)
    missing = [f for f in case.facts if not _fact_present(f, text)] if checkable else []
    return CaseResult(
        question=case.question,
        path=run,
        intent=ans.intent,
        expected_intent=case.intent,
        routed=routed,
        tools_called=called,
        tools_checked=checkable,
        facts_missing=missing,
        facts_checked=checkable and bool(case.facts),
        grounded=bool(ans.grounding and ans.grounding.grounded),
        fallback=ans.fallback,
        latency_ms=round(ans.latency_ms, 1),
        tokens=ans.usage.total_tokens,
        cost_usd=ans.usage.cost_usd,
    )


def summarise(path: str, results: list[CaseResult]) -> PathSummary:
    routed = [r.routed for r in results if r.routed is not None]
    facts = [not r.facts_missing for r in results if r.facts_checked]
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    return PathSummary(
        path=path,
        questions=len(results),
        routing_accuracy=round(sum(routed) / len(routed), 4) if routed else None,
        routing_scored=len(routed),
        facts_accuracy=round(sum(facts) / len(facts), 4) if facts else None,
        facts_scored=len(facts),
        grounded_share=round(sum(r.grounded for r in results) / max(1, len(results)), 4),
        p50_latency_ms=round(statistics.median([r.latency_ms for r in results]), 1) if results else 0.0,
        tokens_per_question=round(sum(r.tokens for r in results) / max(1, len(results)), 1),
        cost_per_question_usd=round(sum(costs) / len(results), 6) if costs else None,
        fallbacks=sum(1 for r in results if r.fallback),
    )


def run_eval(
    cases: list[Case],
    settings: Settings,
    *,
    registry: ToolRegistry | None = None,
    llm: bool | None = None,
    model: Any = None,
    caps: Capabilities | None = None,
) -> EvalReport:
    """`caps` declare the tools and the planner's intents (default: the process's)."""
    caps = caps or capabilities()
    registry = registry or caps.registry()
    ctx = eval_world.open_world(None, settings)
    planner = Planner(registry, ctx, capabilities=caps)
    assistant = Assistant(registry, ctx, settings, model=model, planner=planner)
    runs: dict[str, list[CaseResult]] = {"planner": []}
    use_llm = assistant.llm_enabled if llm is None else (llm and assistant.llm_enabled)
    if use_llm:
        runs["llm"] = []
    for case in cases:
        runs["planner"].append(score(case, assistant.ask(case.question, use_llm=False, remember=False), registry, "planner"))
        if use_llm:
            runs["llm"].append(score(case, assistant.ask(case.question, use_llm=True, remember=False), registry, "llm"))
    ctx.store.close()
    return EvalReport(
        cases=len(cases),
        tools=registry.names(),
        summaries=[summarise(p, rs) for p, rs in runs.items()],
        results=[r for rs in runs.values() for r in rs],
    )


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
