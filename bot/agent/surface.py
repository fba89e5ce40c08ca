"""The agent behind the shared router: free text in, a `Reply` out (Slack, console, CLI).

One `Assistant` per runtime (kept as a ToolContext resource, so the intent model trains
once); the conversation key comes from the `Asker` (surface, channel, thread).
"""

from __future__ import annotations

import re

from bot.agent.models import AgentAnswer
from bot.agent.service import Assistant
from bot.reply import Reply
from bot.router import Asker, FreeTextHandler, Router
from bot.runtime import Runtime
from tools.result import ToolResult


def assistant_for(rt: Runtime) -> Assistant:
    return rt.ctx.resource(
        "agent.assistant", lambda: Assistant(rt.registry, rt.ctx, rt.settings, capabilities=rt.capabilities)
    )


def sources_line(ans: AgentAnswer) -> str | None:
    """A short footer: which tools answered, and how the answer was made."""
    used = [c for c in ans.calls if c.ok]
    if not used and ans.path == "planner" and ans.intent in ("help", "smalltalk"):
        return None
    parts = []
    if used:
        parts.append("sources: " + ", ".join(f"`{c.tool}`" for c in used))
    if ans.path == "llm":
        tokens = f"{ans.usage.total_tokens:,} tokens"
        parts.append(f"{ans.usage.model} · {tokens}" + (f" · ${ans.usage.cost_usd:.4f}" if ans.usage.cost_usd else ""))
        parts.append("figures checked against the tools" if ans.fallback is None else "answer from the tools directly")
    else:
        parts.append("answered by the built-in planner (no LLM)")
    return "_" + " · ".join(parts) + "_"


def to_reply(ans: AgentAnswer) -> Reply:
    """Prose first; the tools' own rendering when the answer relies on it."""
    results: list[ToolResult] = []
    if ans.render_outputs:
        results = [c for c in ans.calls if c.output is not None]
    text = ans.text
    if ans.path == "llm":  # models write Markdown; Slack's mrkdwn bolds with single stars
        text = re.sub(r"\*\*(.+?)\*\*", r"*\1*", text)
    footer = sources_line(ans)
    if footer:
        text = f"{text}\n\n{footer}"
    # When the tools were to speak for themselves but none could, their error is the answer.
    errors = [c.error for c in ans.calls if c.error and not c.refused]
    error = errors[0] if ans.render_outputs and errors and not any(c.ok for c in ans.calls) else None
    return Reply(results=results, text=text, error=error)


def free_text_handler() -> FreeTextHandler:
    """The router's hook: `Router(runtime, free_text=free_text_handler())`."""

    def handle(rt: Runtime, text: str, asker: Asker) -> Reply:
        ans = assistant_for(rt).ask(text, key=asker.conversation_key, actor=asker.user)
        return to_reply(ans)

    return handle


def make_router(rt: Runtime) -> Router:
    """The shared router with the agent (or its planner) answering free text."""
    return Router(rt, free_text=free_text_handler())
