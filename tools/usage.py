"""The `assistant_usage` tool: what the assistant's answers cost (answers, tokens, USD)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools.contract import ToolContext, tool
from tools.conversations import UsageLine, usage_summary
from tools.usage_query import UsageQuery


class UsageReport(BaseModel):
    days: int
    lines: list[UsageLine] = Field(default_factory=list)


@tool(
    "assistant_usage",
    "The assistant's own usage over the last N days: answers per path (LLM or planner) and "
    "model, tool calls, LLM tokens and cost, fallbacks and ungrounded drafts replaced.",
)
def assistant_usage(ctx: ToolContext, args: UsageQuery) -> UsageReport:
    since = ctx.now().timestamp() - args.days * 86400
    return UsageReport(days=args.days, lines=usage_summary(ctx.store, since=since))
