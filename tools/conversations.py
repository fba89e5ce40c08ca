"""Conversations (per Slack thread or console session) and the assistant's usage book."""

from __future__ import annotations

from tools.store.conversations import (
    Conversation,
    Turn,
    UsageLine,
    append_turn,
    estimate_tokens,
    exists,
    load,
    record_usage,
    trim,
    usage_summary,
)

__all__ = ["Conversation", "Turn", "UsageLine", "append_turn", "estimate_tokens", "exists", "load",
           "record_usage", "trim", "usage_summary"]
