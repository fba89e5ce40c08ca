"""`/triops usage [days]` — what the agent's answers cost: answers, tokens, USD, fallbacks."""

from __future__ import annotations

import time

from bot.agent.usage_view import usage_text
from bot.commands.base import Command, Reply
from bot.runtime import Runtime
from tools.store.conversations import usage_summary


def handle_usage(rt: Runtime, args: list[str]) -> Reply:
    days = 30
    if args:
        word = args[0].lower().removesuffix("d")
        if not word.isdigit() or not 1 <= int(word) <= 3650:
            return Reply(error={"error": f"'{args[0]}' is not a number of days.", "hint": "Usage: usage [days], e.g. usage 7", "choices": []}, ephemeral=True)
        days = int(word)
    lines = usage_summary(rt.store, since=time.time() - days * 86400)
    return Reply(text=usage_text(lines, days), ephemeral=True)


COMMANDS = [
    Command(
        verb="usage",
        usage="usage [days]",
        summary="The assistant's answers, LLM tokens and cost (default: last 30 days)",
        handler=handle_usage,
        aliases=("cost", "tokens"),
        examples=("usage", "usage 7"),
    )
]
