"""Budgets for one answer and one conversation: tool calls, tokens and wall time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tools.settings import Settings


@dataclass(frozen=True)
class Budget:
    max_tool_calls: int = 8
    max_seconds: float = 60.0
    max_answer_tokens: int = 60_000
    max_conversation_tokens: int = 300_000

    @classmethod
    def from_settings(cls, s: Settings) -> Budget:
        return cls(
            max_tool_calls=s.agent_max_tool_calls,
            max_seconds=s.agent_max_seconds,
            max_answer_tokens=s.agent_max_answer_tokens,
            max_conversation_tokens=s.agent_max_conversation_tokens,
        )


@dataclass
class BudgetMeter:
    """Spending during one answer, on top of what the conversation had already spent."""

    budget: Budget
    conversation_tokens_before: int = 0
    tool_calls: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining_seconds(self) -> float:
        return self.budget.max_seconds - self.elapsed()

    def exhausted(self) -> str | None:
        """The name of the first budget that ran out, or None."""
        if self.remaining_seconds() <= 0:
            return "time"
        if self.tokens >= self.budget.max_answer_tokens:
            return "tokens per answer"
        if self.conversation_tokens_before + self.tokens >= self.budget.max_conversation_tokens:
            return "tokens per conversation"
        return None

    def may_call_tool(self) -> bool:
        return self.tool_calls < self.budget.max_tool_calls
