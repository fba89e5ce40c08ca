"""The assistant: one question in, one grounded answer out, with conversation memory.

It chooses the path (the LLM agent when an endpoint is configured, else the planner; the
planner also when the LLM errors or times out), applies the grounding guard, and keeps the
books: conversation turns per thread, token and cost usage per answer, the audit log.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

import prompts
from bot.agent import actions, intent_choice
from bot.agent.budget import Budget
from bot.agent.capping import redact
from bot.agent.grounding import Evidence, check, check_claims
from bot.agent.llm import failure_reason, make_chat_model
from bot.agent.loop import TIME_MARK, LLMAgent, LLMRun, system_prompt
from bot.agent.models import AgentAnswer, Grounding, ToolCallRecord
from bot.agent.planner import Planner
from bot.agent.render import output_text
from bot.agent.textcalls import looks_like_payload
from tools import audit
from tools import conversations as conv_store
from tools.contract import ToolContext, ToolRegistry, current_actor
from tools.settings import Settings

if TYPE_CHECKING:
    from bot.capabilities import Capabilities

log = logging.getLogger("triops.agent")
MAX_QUESTION_CHARS = 4000  # a pasted log dump is cut, not sent whole to the model
CHAT_INTENTS = ("help", "smalltalk")  # not about the organisation's systems: no tool needed


def evidence_of(question: str, calls: list[ToolCallRecord]) -> Evidence:
    """What a turn's tools produced: outputs, errors, and the arguments of successful calls."""
    items: list[Any] = []
    for c in calls:
        if c.output is not None:
            items.append(c.output.model_dump(mode="json"))
        if c.ok:
            items.append(c.args)
        elif c.error and not c.refused:  # a tool's error and hint are its output too
            items.append({"error": c.error.message, "hint": c.error.hint, "choices": c.error.choices})
    return Evidence.build(items, question=question)


def verdict_of(text: str, question: str, calls: list[ToolCallRecord], *, about: bool = True) -> Grounding:
    """Figures checked against everything the turn produced; for a question about the
    organisation's systems, claims of state, existence and cause against the tool outputs."""
    verdict = check(text, evidence_of(question, calls))
    if about:
        outputs: list[Any] = [c.output.model_dump(mode="json") for c in calls if c.output is not None]
        outputs += [{"error": c.error.message, "hint": c.error.hint, "choices": c.error.choices}
                    for c in calls if c.error is not None and not c.refused]
        verdict.claims = check_claims(text, outputs)
        verdict.grounded = verdict.grounded and not verdict.claims
    return verdict


def echoes(text: str, prompt: str, n: int = 8) -> bool:
    """The answer repeats a run of `n` words of the system prompt (a small model reading back
    its instructions)."""
    words = re.findall(r"[a-z0-9']+", prompt.lower())
    grams = {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}
    got = re.findall(r"[a-z0-9']+", text.lower())
    return any(" ".join(got[i:i + n]) in grams for i in range(len(got) - n + 1))


def answer_text(ans: AgentAnswer) -> str:
    """The answer as plain text: the prose, then (when asked for) each output's rendering."""
    parts = [ans.text] if ans.text else []
    if ans.render_outputs:
        for c in ans.calls:
            if c.output is not None:
                parts.append(output_text(c))
            elif c.error and not c.refused:
                parts.append(f"⚠ {c.tool}: {c.error.text()}")
    return "\n\n".join(parts)


class Assistant:
    def __init__(
        self,
        registry: ToolRegistry,
        ctx: ToolContext,
        settings: Settings,
        *,
        model: BaseChatModel | None = None,
        planner: Planner | None = None,
        budget: Budget | None = None,
        capabilities: Capabilities | None = None,
    ):
        """`capabilities` declare the planner's intents (default: the process's)."""
        self.registry = registry
        self.ctx = ctx
        self.settings = settings
        self.store = ctx.store
        self.planner = planner or Planner(registry, ctx, capabilities=capabilities)
        if model is None and settings.llm_enabled:
            model = make_chat_model(settings, timeout=min(settings.llm_timeout, settings.agent_max_seconds))
        self.model = model
        self.budget = budget or Budget.from_settings(settings)

    @property
    def llm_enabled(self) -> bool:
        return self.model is not None

    def ask(
        self,
        question: str,
        *,
        key: str | None = None,
        actor: str = "cli",
        use_llm: bool | None = None,
        remember: bool = True,
        intent: str | None = None,
    ) -> AgentAnswer:
        """`intent` names the planner's route when the caller knows it (auto-triage)."""
        started = time.perf_counter()
        question = question.strip()[:MAX_QUESTION_CHARS]
        conv = conv_store.load(self.store, key) if key else conv_store.Conversation(key="")
        token = current_actor.set(actor)  # the tool wrapper audits each call for this person
        try:
            if self.model is not None and use_llm is not False and (use_llm or self._llm_allowed(question, conv, intent)):
                ans = self._ask_llm(question, conv, intent)
            else:
                ans = self.planner.answer(question, conv.turns[-1] if conv.turns else None, intent=intent)
                ans.grounding = check(ans.text, evidence_of(question, ans.calls))
        finally:
            current_actor.reset(token)
        if ans.path == "planner" or ans.fallback:
            ans.suggestions = self._tool_suggestions(ans)
        ans.latency_ms = (time.perf_counter() - started) * 1000
        self._book(ans, key, actor, conv if remember and key else None)
        return ans

    def _llm_allowed(self, question: str, conv: conv_store.Conversation, intent: str | None) -> bool:
        """The per-intent choice (TRIOPS_LLM_INTENTS, else the one `triops eval agent --llm`
        learned for this model): the planner answers the intents where the eval showed it more
        correct than the LLM; the LLM the rest."""
        choice = intent_choice.current(self.settings)
        if choice is None:
            return True
        if intent is None:
            previous = conv.turns[-1] if conv.turns else None
            intent = self.planner.follow_up(question, self.planner.route(question), previous).intent
        return choice.allows(intent)

    def _tool_suggestions(self, ans: AgentAnswer) -> list[dict]:
        """Deterministic suggestions from tool outputs, kept only if allowed and valid."""
        out = []
        for s in actions.suggestions_in([c.output for c in ans.calls if c.output is not None]):
            try:
                out.append(actions.validate(self.registry, self.settings, s).model_dump())
            except Exception:
                continue
        return out

    # --- the LLM path ---------------------------------------------------------------------
    def _ask_llm(self, question: str, conv: conv_store.Conversation, intent: str | None = None) -> AgentAnswer:
        agent = LLMAgent(self.model, self.registry, self.ctx, self.settings, self.budget)  # type: ignore[arg-type]
        previous = conv.turns[-1] if conv.turns else None
        route = self.planner.follow_up(question, self.planner.route(question), previous)
        about = (intent or route.intent) not in CHAT_INTENTS
        try:
            run = agent.run(question, conv.turns, conv.tokens_used, about_systems=about,
                            ranked_tools=self.planner.ranked_tools(route))
        except Exception as exc:  # endpoint down, timeout, bad response: the planner answers
            reason, detail = failure_reason(exc)
            log.warning("LLM failed (%s: %s); the planner answers", type(exc).__name__, redact(str(exc))[:300])
            return self._planner_fallback(question, reason, None, previous, intent, detail)
        return self._check_run(question, run, previous, intent, about=about)

    def _unusable(self, text: str) -> str | None:
        """Why a final text must never be shown: a payload, or the prompt (or the user turn,
        with the time line triops added to it) read back."""
        if looks_like_payload(text):
            return "bad_output"
        if TIME_MARK in text or echoes(text, system_prompt(self.registry, self.ctx, has_history=False)):
            return "prompt_echo"
        return None

    def _check_run(
        self, question: str, run: LLMRun, previous: conv_store.Turn | None = None, intent: str | None = None,
        *, about: bool = True,
    ) -> AgentAnswer:
        base = {"question": question, "path": "llm", "calls": run.calls, "usage": run.usage}
        if run.failure:
            return self._planner_fallback(question, run.failure, run, previous, intent, run.detail)
        if run.text is None:
            reason = "budget" if run.stopped else "no_answer"
            if not any(c.ok for c in run.calls):
                return self._planner_fallback(question, reason, run, previous, intent)
            note = prompts.render("fallback_note", reason=reason, detail=run.stopped or "")
            ans = AgentAnswer(text=note, fallback=reason, render_outputs=True, **base)
            ans.grounding = check(note, evidence_of(question, run.calls))
            return ans
        bad = self._unusable(run.text)
        if bad:
            audit.record(self.store, "agent", "llm_output_refused", question[:200], reason=bad,
                         answer=redact(run.text)[:1000])
            return self._planner_fallback(question, bad, run, previous, intent)
        # a suggestion is a tool call too: validated, allowlisted, and only recorded for approval
        used_tools = any(c.ok for c in run.calls) or bool(run.suggestions)
        if about and not used_tools:  # a claim about our systems must rest on a tool's output
            ans = self._planner_fallback(question, "no_tool_call", run, previous, intent)
            ans.grounding = verdict_of(run.text, question, run.calls, about=True)  # what the model said
            return ans
        verdict = verdict_of(run.text, question, run.calls, about=about)
        if verdict.grounded:  # suggestions only ride on an answer whose figures hold
            return AgentAnswer(
                text=run.text, grounding=verdict, suggestions=[x.model_dump() for x in run.suggestions], **base
            )
        log.warning("ungrounded answer replaced; unsupported: %s %s", verdict.unsupported, verdict.claims)
        audit.record(
            self.store, "agent", "grounding_fallback", question[:200],
            unsupported=verdict.unsupported, claims=verdict.claims, answer=redact(run.text)[:1000],
        )
        what = "stated figures that no tool produced" if verdict.unsupported else "made claims the tool results do not back"
        if not used_tools:
            ans = self._planner_fallback(question, "ungrounded", run, previous, intent, what)
        else:
            note = prompts.render("fallback_note", reason="ungrounded", detail=what)
            ans = AgentAnswer(text=note, fallback="ungrounded", render_outputs=True, **base)
        ans.grounding = verdict  # the verdict on what the model said, for the record
        return ans

    def _planner_fallback(
        self, question: str, reason: str, run: LLMRun | None, previous: conv_store.Turn | None = None,
        intent: str | None = None, detail: str = "",
    ) -> AgentAnswer:
        ans = self.planner.answer(question, previous, intent=intent)
        note = prompts.render("fallback_note", reason=reason, detail=detail or ((run.stopped if run else "") or ""))
        ans.text = f"{ans.text}\n{note}" if note else ans.text
        ans.fallback = reason
        if run is not None:
            ans.usage = run.usage
            ans.calls = [*run.calls, *ans.calls]
        ans.grounding = check(ans.text, evidence_of(question, ans.calls))
        return ans

    # --- books ------------------------------------------------------------------------------
    def _book(self, ans: AgentAnswer, key: str | None, actor: str, conv: conv_store.Conversation | None) -> None:
        if ans.usage.llm_calls:  # /metrics: LLM tokens and cost (never raises)
            from bot import observability

            observability.llm_usage(self.ctx, ans.usage.model, ans.usage.input_tokens, ans.usage.output_tokens,
                                    ans.usage.cost_usd)
        try:
            conv_store.record_usage(
                self.store,
                conversation_key=key,
                actor=actor,
                path=ans.path,
                model=ans.usage.model if ans.usage.llm_calls else None,
                input_tokens=ans.usage.input_tokens,
                output_tokens=ans.usage.output_tokens,
                cost_usd=ans.usage.cost_usd,
                tool_calls=len([c for c in ans.calls if not c.refused]),
                latency_ms=ans.latency_ms,
                grounded=ans.grounding.grounded if ans.grounding else None,
                fallback=ans.fallback,
            )
            for c in ans.calls:  # calls that ran were audited by the tool wrapper
                if c.refused:
                    audit.record(self.store, actor, "tool_refused", c.tool, args=c.args, reason=c.message, via=ans.path)
            for sug in ans.suggestions:
                actions.record(self.store, actions.Suggestion.model_validate(sug), key=key,
                               by="agent" if ans.path == "llm" and not ans.fallback else "tool", actor=actor)
            if conv is not None and key:
                shown = ans.text if not ans.render_outputs else answer_text(ans)
                first = next((c for c in ans.calls if c.ok), None)
                intent = ans.intent or (self.planner.intent_of_tool(first.tool) if first else None)
                slots = dict(ans.slots)
                if not slots and first is not None:  # an LLM turn: what its first call was about
                    slots = {k: str(first.args[k]) for k in ("service", "team", "model", "window") if first.args.get(k)}
                    if first.args.get("scope"):
                        slots["service"] = str(first.args["scope"])
                turn = conv_store.Turn(
                    question=redact(ans.question)[:2000],
                    answer=redact(shown)[:4000],
                    tools=[f"{c.tool}({', '.join(f'{k}={v}' for k, v in c.args.items())})" for c in ans.calls if c.ok],
                    intent=intent,
                    slots=slots,
                )
                conv_store.append_turn(self.store, key, turn, ans.usage.total_tokens, self.settings.agent_history_tokens)
        except Exception:  # the answer matters more than its bookkeeping
            log.exception("could not record the answer's usage or conversation")
