"""`triops eval agent`: labelled questions → routing, facts, groundedness, latency, tokens, cost.

Runs in the eval world (bot/agent/eval_world.py), whose figures are known by hand, on a
fresh in-memory store — never on the user's data. The planner always runs; the LLM agent
runs too when an endpoint is configured.
"""

from __future__ import annotations

import fnmatch
import math
import re
import statistics
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from bot.agent import eval_world, intent_choice
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
    args_ok: bool | None = None  # llm: the expected tool's arguments name what the planner's do
    facts_missing: list[str]
    facts_checked: bool
    grounded: bool  # llm: only the model's own answers count; a planner fallback is not grounded
    correct: bool = False  # routed, the facts present, and grounded
    fallback: str | None = None
    endpoint_failure: bool = False  # llm: a timeout, no connection or an HTTP error: not the model's answer
    latency_ms: float
    tokens: int
    cost_usd: float | None


class PathSummary(BaseModel):
    path: str
    model: str | None = None
    questions: int
    routing_accuracy: float | None
    routing_scored: int
    args_accuracy: float | None = None
    args_scored: int = 0
    facts_accuracy: float | None
    facts_scored: int
    correctness: float = 0.0  # answers routed right, with the facts, grounded
    grounded_share: float
    fallback_rate: float = 0.0
    p50_latency_ms: float
    p95_latency_ms: float = 0.0
    tokens_per_question: float
    cost_per_question_usd: float | None
    fallbacks: int
    fallback_reasons: dict[str, int] = Field(default_factory=dict)


class EvalReport(BaseModel):
    cases: int
    tools: list[str]
    summaries: list[PathSummary]
    results: list[CaseResult]
    # intents where the LLM path was at least as correct as the planner (TRIOPS_LLM_INTENTS);
    # None: the LLM did not run, or no intent was measured (the endpoint failed every answer)
    llm_intents: list[str] | None = None
    llm_choice: str | None = None  # where that choice was saved, or why it was not


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


ENDPOINT_FAILURES = ("timeout", "llm_unreachable")
_HTTP_ERROR = re.compile(r"returned an error \(HTTP \d{3}\)")  # prompts/fallback_note.j2, llm_error


def endpoint_failed(ans: AgentAnswer) -> bool:
    """The request failed before the model answered (timeout, no connection, an HTTP error
    status): that says how the endpoint was, not how correct the model is."""
    return ans.fallback in ENDPOINT_FAILURES or (ans.fallback == "llm_error" and bool(_HTTP_ERROR.search(ans.text)))


_ENTITY_ARGS = ("scope", "service", "team", "model", "name", "id")


def args_match(llm: dict[str, Any], planner: dict[str, Any]) -> bool:
    """The LLM's call names the same things (service, team, model…) and window as the planner's."""
    def norm(v: Any) -> str:
        return str(v).strip().lower()

    want = {norm(v) for k, v in planner.items() if k in _ENTITY_ARGS and v}
    got = {norm(v) for k, v in llm.items() if k in _ENTITY_ARGS and v}
    if not want <= got:
        return False
    return not planner.get("window") or norm(llm.get("window", "")) == norm(planner["window"])


def score(case: Case, ans: AgentAnswer, registry: ToolRegistry, run: str,
          reference: AgentAnswer | None = None) -> CaseResult:
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
    grounded = bool(ans.grounding and ans.grounding.grounded)
    args_ok: bool | None = None
    if run == "llm":
        grounded = grounded and ans.fallback is None and ans.path == "llm"
        mine = [c for c in ans.calls if c.by == "llm" and c.ok]
        ref = [c for c in (reference.calls if reference else []) if c.ok]
        if mine and ref:
            args_ok = any(c.tool == r.tool and args_match(c.args, r.args) for c in mine for r in ref)
    return CaseResult(
        question=case.question,
        path=run,
        intent=ans.intent,
        expected_intent=case.intent,
        routed=routed,
        tools_called=called,
        tools_checked=checkable,
        args_ok=args_ok,
        facts_missing=missing,
        facts_checked=checkable and bool(case.facts),
        grounded=grounded,
        correct=routed is not False and not missing and grounded,
        fallback=ans.fallback,
        endpoint_failure=run == "llm" and endpoint_failed(ans),
        latency_ms=round(ans.latency_ms, 1),
        tokens=ans.usage.total_tokens,
        cost_usd=ans.usage.cost_usd,
    )


def _p95(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def summarise(path: str, results: list[CaseResult], model: str | None = None) -> PathSummary:
    routed = [r.routed for r in results if r.routed is not None]
    facts = [not r.facts_missing for r in results if r.facts_checked]
    args = [r.args_ok for r in results if r.args_ok is not None]
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    n = max(1, len(results))
    reasons: dict[str, int] = {}
    for r in results:
        if r.fallback:
            reasons[r.fallback] = reasons.get(r.fallback, 0) + 1
    return PathSummary(
        path=path,
        model=model,
        questions=len(results),
        routing_accuracy=round(sum(routed) / len(routed), 4) if routed else None,
        routing_scored=len(routed),
        args_accuracy=round(sum(args) / len(args), 4) if args else None,
        args_scored=len(args),
        facts_accuracy=round(sum(facts) / len(facts), 4) if facts else None,
        facts_scored=len(facts),
        correctness=round(sum(r.correct for r in results) / n, 4),
        grounded_share=round(sum(r.grounded for r in results) / n, 4),
        fallback_rate=round(sum(1 for r in results if r.fallback) / n, 4),
        fallback_reasons=reasons,
        p50_latency_ms=round(statistics.median([r.latency_ms for r in results]), 1) if results else 0.0,
        p95_latency_ms=round(_p95([r.latency_ms for r in results]), 1),
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
    progress: Any = None,
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
    for i, case in enumerate(cases):
        planned = assistant.ask(case.question, use_llm=False, remember=False)
        runs["planner"].append(score(case, planned, registry, "planner"))
        if use_llm:
            runs["llm"].append(score(case, assistant.ask(case.question, use_llm=True, remember=False), registry, "llm",
                                     reference=planned))
        if progress is not None:
            progress(i + 1, len(cases), runs)
    ctx.store.close()
    chosen = note = None
    if use_llm:
        verdicts = intent_verdicts(runs["planner"], runs["llm"])
        chosen = sorted(i for i, ok in verdicts.items() if ok) if verdicts else None  # None: none measured
        note = keep_choice(settings, runs["llm"], verdicts)
    return EvalReport(
        cases=len(cases),
        tools=registry.names(),
        summaries=[summarise(p, rs, settings.llm_model if p == "llm" else None) for p, rs in runs.items()],
        results=[r for rs in runs.values() for r in rs],
        llm_intents=chosen,
        llm_choice=note,
    )


def intent_verdicts(planner: list[CaseResult], llm: list[CaseResult]) -> dict[str, bool]:
    """Per intent: whether the LLM path answered at least as correctly as the planner, the
    choice that keeps the planner never worse off. An endpoint failure is not the model's
    answer, so it is left out: an intent with no other answer gets no verdict."""
    out = {}
    for intent in sorted({r.expected_intent for r in planner}):
        p = [r.correct for r in planner if r.expected_intent == intent]
        m = [r.correct for r in llm if r.expected_intent == intent and not r.endpoint_failure]
        if m:
            out[intent] = sum(m) / len(m) >= sum(p) / len(p) and any(m)
    return out


def keep_choice(settings: Settings, llm: list[CaseResult], verdicts: dict[str, bool]) -> str:
    """Saves the verdicts as the default for this endpoint and model, unless no LLM answer
    measured the model (every one an endpoint failure, or none); says where, or why not."""
    reasons: dict[str, int] = {}
    for r in llm:
        if r.endpoint_failure:
            reasons[r.fallback or ""] = reasons.get(r.fallback or "", 0) + 1
    failures = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    if reasons and all(r.endpoint_failure for r in llm):
        return (f"LLM choice not saved: every LLM answer was an endpoint failure ({failures}); "
                "is it up? The earlier choice stands.")
    if not verdicts:
        return "LLM choice not saved: no intent was measured."
    cases = {i: sum(1 for r in llm if r.expected_intent == i and not r.endpoint_failure) for i in verdicts}
    path = intent_choice.save(settings, verdicts, cases)
    left_out = f"; endpoint failures left out: {failures}" if failures else ""
    return (f"LLM choice for {intent_choice.key(settings)} saved to {path} ({', '.join(verdicts)}; "
            f"intents not in these cases keep their earlier verdict{left_out}).")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
