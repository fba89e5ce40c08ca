"""A renderer turns one tool's output into Block Kit, plain text and rich; each capability
names its own (bot/capabilities), so tools stay free of surfaces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_sdk.models.blocks import Block

    from tools.result import ToolResult


@dataclass(frozen=True)
class Renderer:
    blocks: Callable[[Any], list[Block]]
    text: Callable[[Any], str]
    rich: Callable[[Any], Any]


def renderer_for(result: ToolResult) -> Renderer | None:
    """The renderer of the capability that made this result (None: show it as JSON)."""
    from bot.capabilities import capabilities

    cap = capabilities().get(result.tool)
    return cap.renderer if cap is not None else None
