"""One typed result for every tool call on every path (HolmesGPT's StructuredToolResult).

A surface never guesses whether a call worked: `status` says so, `output` holds the tool's
own model when it did, `message`/`hint`/`choices` say what went wrong when it did not.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from tools.errors import ApprovalRequired, ErrorInfo, NoDataError, Status, ToolError, TriopsError


class ToolResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: Status = "ok"
    output: SerializeAsAny[BaseModel] | None = None
    message: str | None = None
    hint: str | None = None
    choices: list[str] = Field(default_factory=list)
    ms: float = 0.0  # how long the call took
    ref: str | None = None  # the log reference of this call

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.output is not None

    @property
    def error(self) -> ErrorInfo | None:
        """What went wrong, or None when the call answered."""
        if self.status == "ok":
            return None
        return ErrorInfo(message=self.message or self.status, hint=self.hint, choices=self.choices)

    @classmethod
    def failed(cls, tool: str, args: dict[str, Any], exc: TriopsError, **extra: Any) -> ToolResult:
        return cls(tool=tool, args=args, status=exc.status, message=exc.message, hint=exc.hint,
                   choices=exc.choices, **extra)

    def unwrap(self) -> BaseModel:
        """The output, or the failure raised again as the matching `TriopsError`."""
        if self.ok:
            assert self.output is not None
            return self.output
        kind = {"no_data": NoDataError, "approval_required": ApprovalRequired}.get(self.status, ToolError)
        raise kind(self.message or self.status, hint=self.hint, choices=self.choices)
