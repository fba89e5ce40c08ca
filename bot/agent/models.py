"""What an answer is made of: the tool calls (the only source of figures), text and usage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.result import ToolResult

Path = Literal["llm", "planner"]  # how an answer was made (and who chose a tool call)


class ToolCallRecord(ToolResult):
    """One tool call made while answering: the tool's result, who chose it, and how the
    agent treated it."""

    by: Path = "llm"  # who chose the call: the LLM, or the planner
    refused: bool = False  # not run: repeated, over budget or unknown
    capped: bool = False  # the copy the model saw was shortened

    @classmethod
    def of(cls, result: ToolResult, *, by: Path) -> ToolCallRecord:
        return cls(**dict(result), by=by)

    def signature(self) -> str:
        import json

        return self.tool + json.dumps(self.args, sort_keys=True, default=str)


class Usage(BaseModel):
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    llm_calls: int = 0
    cost_usd: float | None = None  # None: the price of this model is not known

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None and other.cost_usd is None else (
            (self.cost_usd or 0.0) + (other.cost_usd or 0.0)
        )
        return Usage(
            model=self.model or other.model,
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            llm_calls=self.llm_calls + other.llm_calls,
            cost_usd=cost,
        )


class Grounding(BaseModel):
    """The grounding verdict for one answer text."""

    grounded: bool
    figures: list[str] = Field(default_factory=list)  # every figure found in the text
    unsupported: list[str] = Field(default_factory=list)  # figures no tool produced
    claims: list[str] = Field(default_factory=list)  # state/existence/cause claims no tool output backs


class AgentAnswer(BaseModel):
    """One answer to one question: what was called, what was said, how it was checked."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    question: str
    text: str  # the answer as shown (LLM prose, or the planner's template intro)
    path: Path
    intent: str | None = None  # the planner's intent (planner path only)
    slots: dict[str, str] = Field(default_factory=dict)  # what the planner understood (scope, window…)
    calls: list[ToolCallRecord] = Field(default_factory=list)
    grounding: Grounding | None = None
    fallback: str | None = None  # why the LLM's answer was not used: ungrounded, budget, llm_error…
    usage: Usage = Field(default_factory=Usage)
    latency_ms: float = 0.0
    render_outputs: bool = False  # the surface should show the tool outputs' own rendering
    suggestions: list[dict[str, Any]] = Field(default_factory=list)  # actions for a human to approve

    @property
    def tools_used(self) -> list[str]:
        return [c.tool for c in self.calls if not c.refused]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
