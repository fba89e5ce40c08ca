"""What every surface shows: a `Reply` holding tool results (the renderers turn it into text)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.errors import ErrorInfo, TriopsError
from tools.result import ToolResult


class Reply(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    results: list[ToolResult] = Field(default_factory=list)  # the only source of figures
    text: str | None = None  # prose: help, an explanation, the agent's grounded summary
    error: ErrorInfo | None = None  # what went wrong, for a person
    ephemeral: bool = False  # only the asker sees it (help, errors)
    thread_hint: str | None = None

    @classmethod
    def failure(cls, exc: TriopsError) -> Reply:
        return cls(error=exc.info(), ephemeral=True)

    @classmethod
    def of(cls, result: ToolResult) -> Reply:
        """One tool's result: its output, or its error shown to the asker only."""
        if result.ok:
            return cls(results=[result])
        return cls(results=[result], error=result.error, ephemeral=True)
