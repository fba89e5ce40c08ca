"""Errors a tool raises for its caller to show a person (or the agent) as they are."""

from __future__ import annotations


class ToolError(Exception):
    """A user-facing failure: bad argument, unknown name. Never a stack trace in Slack."""

    def __init__(self, message: str, *, hint: str | None = None, choices: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.choices = choices or []

    def as_dict(self) -> dict[str, object]:
        return {"error": self.message, "hint": self.hint, "choices": self.choices}
