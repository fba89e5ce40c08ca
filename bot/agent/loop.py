"""The LLM agent loop: LangChain `create_agent` over the wrapped registry tools.

One run answers one question. Budgets are enforced inside the loop by a middleware that
ends the run before a model call once time or tokens are spent, and by the tool session,
which refuses calls over the tool-call budget. What comes out is the model's final text
(or None) and the record of every tool call — the evidence the grounding guard needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, hook_config
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError

import prompts
from bot.agent.actions import Suggestion, suggest_tool
from bot.agent.budget import Budget, BudgetMeter
from bot.agent.capping import redact
from bot.agent.llm import Deadline, cost, prices, usage_of
from bot.agent.models import ToolCallRecord, Usage
from bot.agent.repair import ModelGuard
from bot.agent.toolkit import (
    ToolSession,
    as_langchain_tools,
    compact,
    offered_tools,
    schema_of,
    select_tools,
    tool_output_chars,
)
from tools.contract import Tool, ToolContext, ToolRegistry
from tools.conversations import Turn
from tools.settings import Settings

if TYPE_CHECKING:
    from langchain.agents.middleware.types import InputAgentState

log = logging.getLogger("triops.agent")


class _BudgetGuard(AgentMiddleware):
    """Ends the run before a model call when time or tokens are spent."""

    def __init__(self, meter: BudgetMeter):
        super().__init__()
        self.meter = meter
        self.stopped: str | None = None
        self.input_tokens = self.output_tokens = self.calls = 0  # for runs cut short

    @hook_config(can_jump_to=["end"])
    def before_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        spent = self.meter.exhausted()
        if spent:
            self.stopped = spent
            return {"jump_to": "end"}
        return None

    @hook_config(can_jump_to=["end"])
    def after_model(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        last = state["messages"][-1]
        meta = getattr(last, "usage_metadata", None) or {}
        tin, tout = int(meta.get("input_tokens", 0) or 0), int(meta.get("output_tokens", 0) or 0)
        self.input_tokens += tin
        self.output_tokens += tout
        self.calls += 1
        self.meter.tokens += tin + tout
        spent = self.meter.exhausted()
        if spent and getattr(last, "tool_calls", None):  # do not run tools we cannot use
            self.stopped = spent
            return {"jump_to": "end"}
        return None


@dataclass
class LLMRun:
    text: str | None
    calls: list[ToolCallRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stopped: str | None = None  # the budget that ended the run early
    suggestions: list[Suggestion] = field(default_factory=list)
    failure: str | None = None  # why the model's turn was unusable: bad_tool_call, bad_output…
    detail: str = ""  # what exactly (the tool name it wrote, the choices)
    repairs: list[str] = field(default_factory=list)  # text tool calls run, names mapped


def history_messages(turns: Sequence[Turn]) -> list[BaseMessage]:
    out: list[BaseMessage] = []
    for t in turns:
        out.append(HumanMessage(content=t.question))
        used = f"\n(tools used: {'; '.join(t.tools)})" if t.tools else ""
        out.append(AIMessage(content=t.answer + used))
    return out


def signature(t: Tool) -> str:
    """`name(arg: type = default, …) — what it does`, for a prompt that lists the tools."""
    schema = schema_of(t, lean=True)
    required = set(schema.get("required") or [])
    args = []
    for name, prop in (schema.get("properties") or {}).items():
        kind = prop.get("type") or ("|".join(map(str, prop["enum"])) if prop.get("enum") else "any")
        default = "" if name in required or "default" not in prop else f" = {json.dumps(prop['default'])}"
        args.append(f"{name}: {kind}{default}")
    return f"{t.name}({', '.join(args)}) — {schema.get('description', '')}"


# the time of day rides in the user turn (the system prompt stays the same all day); an
# answer that contains it has read the user turn back
TIME_MARK = "(time now:"


def system_prompt(
    registry: ToolRegistry, ctx: ToolContext, *, has_history: bool, can_suggest: bool = False,
    tool_names: Sequence[str] | None = None, tool_lines: Sequence[str] = (),
) -> str:
    """Stable for a day (the date, not the minute), so servers that cache a prompt prefix
    reuse it across questions; the time of day goes in the user turn."""
    every = [t.name for t in offered_tools(registry)]
    names = list(tool_names) if tool_names is not None else every
    catalog = ctx.catalog
    return prompts.render(
        "system",
        tool_names=names,
        # the citation example near the top is the same for every question (the first tool of
        # the whole registry, not of this question's compact set): a server's cached prefix
        # then reaches the per-question tool list, not only the first rules
        example_tool=every[0] if every else "tool_name",
        today=ctx.now().strftime("%Y-%m-%d"),
        known_services=list(getattr(catalog, "service_names", []) or [])[:60],
        known_teams=list(getattr(catalog, "team_names", []) or [])[:30],
        max_sentences=6,
        has_history=has_history,
        can_suggest=can_suggest,
        tool_lines=list(tool_lines),
    )


class LLMAgent:
    def __init__(
        self,
        model: BaseChatModel,
        registry: ToolRegistry,
        ctx: ToolContext,
        settings: Settings,
        budget: Budget | None = None,
    ):
        self.model = model
        self.registry = registry
        self.ctx = ctx
        self.settings = settings
        self.budget = budget or Budget.from_settings(settings)

    def run(
        self, question: str, history: Sequence[Turn] = (), conversation_tokens: int = 0, *,
        about_systems: bool = True, ranked_tools: Sequence[str] = (),
    ) -> LLMRun:
        """Answer once. Raises only when the model itself fails (the caller falls back).

        `about_systems`: the question asks about the organisation's systems (so the first
        step may require a tool call); `ranked_tools`: tool names the planner ranks best first,
        for the compact tool set."""
        meter = BudgetMeter(self.budget, conversation_tokens_before=conversation_tokens)
        spent = meter.exhausted()
        if spent:
            return LLMRun(text=None, stopped=spent)
        offered = select_tools(self.registry, self.settings, ranked_tools)
        lean = compact(self.settings)
        prompt_chars = sum(len(json.dumps(schema_of(t, lean=lean))) for t in offered) + 3000  # schemas + system prompt
        session = ToolSession(
            self.registry, self.ctx, meter,
            max_output_chars=tool_output_chars(self.settings, prompt_tokens=int(prompt_chars / 3.5)),
        )
        guard = _BudgetGuard(meter)
        suggestions: list[Suggestion] = []
        # every read-only tool can run (a model may name one outside the compact set); the
        # model is shown only the offered ones
        tools = as_langchain_tools(session, None, lean=lean)
        proposer = suggest_tool(self.registry, self.settings, suggestions)
        if proposer is not None:
            tools.append(proposer)
        shown = {t.name for t in offered} | ({proposer.name} if proposer is not None else set())
        repair = ModelGuard(self.settings, meter, tools, about_systems=about_systems, shown=shown)
        agent = create_agent(
            self.model,
            tools=tools,
            system_prompt=system_prompt(self.registry, self.ctx, has_history=bool(history),
                                        can_suggest=proposer is not None, tool_names=sorted(shown),
                                        tool_lines=[signature(t) for t in offered] if self.settings.llm_tools_in_prompt else ()),
            middleware=[guard, repair],
        )
        asked = f"{redact(question)}\n\n{TIME_MARK} {self.ctx.now().strftime('%Y-%m-%d %H:%M')} UTC)"
        messages = [*history_messages(history), HumanMessage(content=asked)]
        # A safety net only (the budgets above end a run first): each round is several graph
        # steps (middleware, model, tools), and a model that keeps calling refused tools stops here.
        limit = 6 * (self.budget.max_tool_calls + 4)
        try:
            # history holds BaseMessage; the graph's input type names the concrete message classes
            state = agent.invoke(cast("InputAgentState", {"messages": messages}),
                                 config=RunnableConfig(recursion_limit=limit,
                                                       callbacks=[Deadline(meter.remaining_seconds())]))
        except GraphRecursionError:
            price = prices(self.settings)
            usage = Usage(model=self.settings.llm_model, input_tokens=guard.input_tokens, output_tokens=guard.output_tokens,
                          llm_calls=guard.calls, cost_usd=cost(guard.input_tokens, guard.output_tokens, price))
            return LLMRun(text=None, calls=session.calls, usage=usage, stopped="model steps", suggestions=suggestions,
                          failure=repair.failure, detail=repair.detail, repairs=repair.repairs)
        new = state["messages"][len(messages):]
        usage = usage_of(new, self.settings)
        final = new[-1] if new else None
        text = None
        if isinstance(final, AIMessage) and not final.tool_calls:
            text = _text(final).strip() or None
        return LLMRun(text=text, calls=session.calls, usage=usage, stopped=guard.stopped, suggestions=suggestions,
                      failure=repair.failure, detail=repair.detail, repairs=repair.repairs)


def _text(msg: AIMessage) -> str:
    content = msg.content
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
