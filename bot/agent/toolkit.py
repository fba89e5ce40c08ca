"""Every read-only registry tool as a LangChain StructuredTool, wrapped once, generically.

The model sees each tool's name, description and the JSON schema of its pydantic input
model. Calls go through a `ToolSession` (one per answer) which validates the arguments
with the tool's own model, refuses a repeated identical call and calls over budget, caps
the result, and turns every failure into a structured result with the reason — so the
model can correct itself and the loop never crashes.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from langchain_core.tools import StructuredTool, ToolException

from bot.agent.budget import BudgetMeter
from bot.agent.capping import cap_json
from bot.agent.models import ToolCallRecord
from tools.contract import Tool, ToolContext, ToolRegistry, current_actor
from tools.errors import ToolError
from tools.result import ToolResult
from tools.settings import Settings


def offered_tools(registry: ToolRegistry) -> list[Tool]:
    """What the agent may call: everything that does not change a system, in name order
    (a fixed order keeps the prompt prefix the same, so servers can cache it)."""
    return sorted((t for t in registry if not t.mutates), key=lambda t: t.name)


COMPACT_CONTEXT = 8192  # at or below this many tokens of context, offer the compact tool set


def compact(settings: Settings) -> bool:
    if settings.llm_tools == "compact":
        return True
    return settings.llm_tools == "auto" and 0 < settings.llm_context_tokens <= COMPACT_CONTEXT


def select_tools(registry: ToolRegistry, settings: Settings, ranked: Sequence[str] = ()) -> list[Tool]:
    """All read-only tools, or for a small context only those the planner ranks highest
    (`ranked`: tool names, best first), still in name order."""
    tools = offered_tools(registry)
    if not compact(settings) or not ranked:
        return tools
    keep: list[str] = []
    for name in ranked:
        if name not in keep and any(t.name == name for t in tools):
            keep.append(name)
        if len(keep) >= settings.llm_compact_tools:
            break
    return [t for t in tools if t.name in keep] or tools


def tool_output_chars(settings: Settings, prompt_tokens: int = 0) -> int:
    """The cap on one tool result the model reads: the setting, and for a known context
    size a share of what the prompt and the answer leave free (about 3.5 characters a token)."""
    cap = settings.agent_tool_output_chars
    if settings.llm_context_tokens > 0:
        free = settings.llm_context_tokens - prompt_tokens - settings.llm_max_tokens
        cap = min(cap, max(400, int(free * 0.4 * 3.5)))
    return cap


def schema_of(t: Tool, *, lean: bool = False) -> dict[str, Any]:
    """The JSON schema the model is shown for `t`; `lean` for a small context: no titles,
    descriptions cut to their first sentence (types, enums, bounds and defaults stay)."""
    return _lean(_schema(t)) if lean else _schema(t)


def _first_sentence(text: str, limit: int = 90) -> str:
    head = re.split(r"(?<=[a-z0-9)])\.\s+(?=[A-Z])", text.strip())[0].split("\n")[0].strip()
    return head if len(head) <= limit else head[: limit - 1] + "…"


def _lean(value: Any, top: bool = True) -> Any:
    if isinstance(value, dict):
        options = value.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:  # Optional[X] → X
            value = {**{k: v for k, v in value.items() if k != "anyOf"},
                     **next(o for o in options if o != {"type": "null"})}
        out: dict[str, Any] = {}
        for k, v in value.items():
            if (k == "title" and not top) or (k == "default" and v is None):
                continue
            if k == "description" and isinstance(v, str):
                out[k] = _first_sentence(v, 160 if top else 90)
                continue
            out[k] = _lean(v, top=False) if k != "properties" else {p: _lean(x, top=False) for p, x in v.items()}
        return out
    if isinstance(value, list):
        return [_lean(v, top=False) for v in value]
    return value


@lru_cache(maxsize=256)
def _schema_of(t: Tool) -> str:
    """The tool's JSON schema for the model, computed once per tool."""
    schema = t.input_model.model_json_schema()
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    schema["title"] = t.name
    schema["description"] = t.description
    return json.dumps(schema)


def _schema(t: Tool) -> dict[str, Any]:
    return json.loads(_schema_of(t))  # a fresh copy: LangChain may annotate it


def _canonical_args(t: Tool, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the tool will see them (defaults filled), for repeat detection."""
    return t.input_model.model_validate(args).model_dump(mode="json")


class ToolSession:
    """The tool calls of one answer: run, checked, recorded."""

    def __init__(
        self,
        registry: ToolRegistry,
        ctx: ToolContext,
        meter: BudgetMeter,
        *,
        max_output_chars: int = 6000,
    ):
        self.registry = registry
        self.ctx = ctx
        self.meter = meter
        self.max_output_chars = max_output_chars
        self.calls: list[ToolCallRecord] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # parallel tool calls of one model turn run on threads
        self.actor = current_actor.get()  # tool calls may run on other threads: keep who asked

    # The result the model reads; errors raise ToolException so the ToolMessage is status=error.
    def invoke(self, name: str, args: dict[str, Any]) -> str:
        record = self.run(name, args)
        if not record.ok:
            err = record.error
            assert err is not None
            raise ToolException(json.dumps({"status": record.status, "tool": name, "error": err.message,
                                            "hint": err.hint, "choices": err.choices}))
        assert record.output is not None
        text, capped = cap_json(record.output.model_dump(mode="json"), self.max_output_chars)
        record.capped = capped
        return text

    def _refuse(self, name: str, args: dict[str, Any], exc: ToolError) -> ToolCallRecord:
        return ToolCallRecord.of(ToolResult.failed(name, args, exc), by="llm").model_copy(update={"refused": True})

    def run(self, name: str, args: dict[str, Any] | None) -> ToolCallRecord:
        """Check the call against this answer's rules, then run it through the tool wrapper."""
        args = dict(args or {})
        try:
            t = self.registry.get(name)
            if t.mutates:
                raise ToolError(f"{name} changes a system; it is never run by the assistant.")
        except ToolError as exc:
            record = self._refuse(name, args, exc)
            with self._lock:
                self.calls.append(record)
            return record
        try:
            canonical = _canonical_args(t, args)
        except Exception:  # bad arguments: the wrapper words the reason
            canonical = None
        sig = name + json.dumps(canonical if canonical is not None else args, sort_keys=True, default=str)
        with self._lock:  # check and reserve at once
            refusal: ToolError | None = None
            if sig in self._seen:
                refusal = ToolError(
                    f"Refused: {name} was already called with these arguments in this answer.",
                    hint="Use the earlier result, or change the arguments.",
                )
            elif not self.meter.may_call_tool():
                refusal = ToolError(
                    f"Refused: the budget of {self.meter.budget.max_tool_calls} tool calls per answer is spent.",
                    hint="Answer with the results you already have.",
                )
            if refusal is not None:
                record = self._refuse(name, args, refusal)
                self.calls.append(record)
                return record
            self._seen.add(sig)
            self.meter.tool_calls += 1
            slot = len(self.calls)
            self.calls.append(ToolCallRecord(tool=name, args=args))  # placeholder keeps call order
        record = ToolCallRecord.of(t.run(self.ctx, args, actor=self.actor), by="llm")
        with self._lock:
            self.calls[slot] = record
        return record


def as_langchain_tools(
    session: ToolSession, tools: Sequence[Tool] | None = None, *, lean: bool = False
) -> list[StructuredTool]:
    """One StructuredTool per offered registry tool, bound to this answer's session."""

    def make(t: Tool) -> StructuredTool:
        def call(**kwargs: Any) -> str:
            return session.invoke(t.name, kwargs)

        return StructuredTool.from_function(
            func=call,
            name=t.name,
            description=t.description,
            args_schema=schema_of(t, lean=lean),
            handle_tool_error=lambda exc: str(exc),
        )

    return [make(t) for t in (offered_tools(session.registry) if tools is None else tools)]
