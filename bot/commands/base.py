"""What a command returns: a `Reply` holding tool results (the renderers turn it into text)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from bot.runtime import Runtime


class ToolCall(BaseModel):
    """One tool call and its result: the only source of figures in a reply."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    output: BaseModel | None = None
    error: dict[str, Any] | None = None


class Reply(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    results: list[ToolCall] = Field(default_factory=list)
    text: str | None = None  # prose: help, an explanation, the agent's grounded summary
    error: dict[str, Any] | None = None  # a ToolError's message/hint/choices
    ephemeral: bool = False  # only the asker sees it (help, errors)
    thread_hint: str | None = None


@dataclass(frozen=True)
class Command:
    verb: str
    usage: str
    summary: str
    handler: Callable[[Runtime, list[str]], Reply]
    aliases: tuple[str, ...] = field(default_factory=tuple)
    examples: tuple[str, ...] = field(default_factory=tuple)


def run_tool(rt: Runtime, tool: str, args: dict[str, Any]) -> Reply:
    """Call a tool for a command; a ToolError becomes a helpful error reply."""
    from tools.errors import ToolError

    try:
        output = rt.call(tool, args)
    except ToolError as exc:
        return Reply(results=[ToolCall(tool=tool, args=args, error=exc.as_dict())], error=exc.as_dict(), ephemeral=True)
    return Reply(results=[ToolCall(tool=tool, args=args, output=output)])
