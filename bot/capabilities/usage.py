"""The assistant's own usage: answers, tokens, cost."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError

ORDER = 90


def parse_days(words: list[str]) -> dict[str, Any]:
    if not words:
        return {}
    word = words[0].lower().removesuffix("d")
    if len(words) > 1 or not word.isdigit() or not 1 <= int(word) <= 3650:
        raise ToolError(f"'{' '.join(words)}' is not a number of days.", hint="Usage: usage [days], e.g. usage 7")
    return {"days": int(word)}


CAPABILITIES = [
    Capability(
        name="assistant_usage",
        tool="tools.usage:assistant_usage",
        input="tools.usage_query:UsageQuery",
        summary="The assistant's answers, LLM tokens and cost (default: last 30 days)",
        verbs=("usage", "cost", "tokens"),
        usage="[days]",
        examples=("usage", "usage 7"),
        parse=parse_days,
        render="bot.render.usage:RENDERER",
        cli="usage",
        status="Adding up the assistant's usage…",
    )
]
