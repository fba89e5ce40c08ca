"""The model-call guard: bounded calls in, usable turns out.

Around every model call of an answer it
- sends `tool_choice` (auto, or required on the first step of a question about the
  organisation's systems, as configured) and a per-call timeout no longer than the time
  the answer has left (`max_tokens` is set on the client);
- retries a 429 / 5xx once, after the server's Retry-After when that fits the budget;
  never a timed-out generation (that would queue a second copy behind the first);
- turns tool calls written as text (JSON in content, `<tool_call>` tags, fenced JSON)
  into structured calls that run through the same validated tool session, and maps
  near-miss tool and argument names onto the registry;
- marks the turn as failed (the planner answers, and says why) when the model names a
  tool nobody has, writes unparseable arguments, or returns a payload instead of prose.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import BaseTool

from bot.agent import textcalls
from bot.agent.budget import BudgetMeter
from tools.settings import Settings

log = logging.getLogger("triops.agent")
RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_RETRY_WAIT = 10.0


def _schemas(tools: Sequence[BaseTool]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in tools:
        schema: Any = t.args_schema
        out[t.name] = schema if isinstance(schema, dict) else (schema.model_json_schema() if schema is not None else {})
    return out


def _retry_after(exc: BaseException) -> float | None:
    """Seconds to wait before retrying a 429/5xx, or None when it must not be retried."""
    status = getattr(exc, "status_code", None)
    if status not in RETRY_STATUSES:
        return None
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else 0.5
    except ValueError:  # an HTTP date: do not guess, wait the minimum
        return 0.5


def _first_step(messages: Sequence[BaseMessage]) -> bool:
    """No tool has answered since the user's question."""
    for m in reversed(messages):
        if isinstance(m, ToolMessage):
            return False
        if m.type == "human":
            return True
    return True


class ModelGuard(AgentMiddleware):
    def __init__(self, settings: Settings, meter: BudgetMeter, tools: Sequence[BaseTool], *, about_systems: bool,
                 shown: set[str] | None = None):
        """`tools`: what may run; `shown`: the names the model is offered (default: all)."""
        super().__init__()
        self.shown = shown
        self.settings = settings
        self.meter = meter
        self.schemas = _schemas(tools)
        self.about_systems = about_systems
        self.failure: str | None = None
        self.detail = ""
        self.repairs: list[str] = []

    # --- the request ------------------------------------------------------------------------
    def _prepared(self, request: ModelRequest) -> ModelRequest:
        settings = dict(request.model_settings)
        settings["timeout"] = max(0.1, min(self.settings.llm_timeout, self.meter.remaining_seconds()))
        choice: Any = None
        if request.tools and self.settings.llm_tool_choice != "off":
            choice = "auto"
            if (self.settings.llm_tool_choice == "required_first" and self.about_systems
                    and _first_step(request.messages)):
                choice = "required"
        if self.shown is not None:
            shown = [t for t in request.tools if getattr(t, "name", None) in self.shown or isinstance(t, dict)]
            return request.override(model_settings=settings, tool_choice=choice, tools=shown)
        return request.override(model_settings=settings, tool_choice=choice)

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse:
        request = self._prepared(request)
        try:
            response = handler(request)
        except Exception as exc:
            wait = _retry_after(exc)
            if wait is None or wait > min(MAX_RETRY_WAIT, self.meter.remaining_seconds() - 1):
                raise
            log.info("LLM endpoint said %s; retrying once in %.1f s", getattr(exc, "status_code", "?"), wait)
            time.sleep(wait)
            response = handler(self._prepared(request))
        return ModelResponse(result=[self._repaired(m) for m in response.result],
                             structured_response=response.structured_response)

    # --- the response -----------------------------------------------------------------------
    def _fail(self, reason: str, detail: str, msg: AIMessage) -> AIMessage:
        self.failure, self.detail = reason, detail
        log.warning("unusable model turn (%s): %s", reason, detail)
        return AIMessage(content="", id=msg.id, usage_metadata=msg.usage_metadata,
                         response_metadata=msg.response_metadata)

    def _map(self, name: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        res = textcalls.resolve(name, args, self.schemas)
        if res.name is None:
            return None
        if res.changed:
            self.repairs.append(f"{name}({', '.join(args)}) → {res.name}({', '.join(res.args)})")
        return res.name, res.args

    def _repaired(self, msg: BaseMessage) -> BaseMessage:
        if not isinstance(msg, AIMessage):
            return msg
        choices = ", ".join(sorted(self.schemas))
        if msg.tool_calls:
            calls = []
            for c in msg.tool_calls:
                mapped = self._map(c["name"], dict(c.get("args") or {}))
                if mapped is None:  # no such tool: the tool node answers with the list
                    self.repairs.append(f"unknown tool {c['name']!r}")
                    calls.append(c)
                    continue
                calls.append({**c, "name": mapped[0], "args": mapped[1]})
            return msg.model_copy(update={"tool_calls": calls})
        if msg.invalid_tool_calls:
            bad = msg.invalid_tool_calls[0]
            return self._fail("bad_tool_call", f"{bad.get('name')!s} with arguments that are not JSON", msg)
        text = msg.text.strip() if isinstance(msg.text, str) else ""
        written = textcalls.parse(text)
        if written:
            calls = []
            for w in written:
                mapped = self._map(w.name, w.args)
                if mapped is None:
                    return self._fail("bad_tool_call", f"it called {w.name!r}, which is not a tool (tools: {choices})", msg)
                calls.append({"name": mapped[0], "args": mapped[1], "id": "text_" + uuid.uuid4().hex[:10],
                              "type": "tool_call"})
            self.repairs.append("tool call written as text: " + ", ".join(c["name"] for c in calls))
            return AIMessage(content="", tool_calls=calls, id=msg.id, usage_metadata=msg.usage_metadata,
                             response_metadata=msg.response_metadata)
        if textcalls.looks_like_payload(text):
            return self._fail("bad_output", "it returned a payload instead of an answer", msg)
        return msg
