"""What a person (or the agent) is told about a failure: the message, a hint, the choices."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorInfo(BaseModel):
    message: str
    hint: str | None = None
    choices: list[str] = Field(default_factory=list)

    def text(self) -> str:
        return "\n".join(p for p in (self.message, self.hint) if p)
