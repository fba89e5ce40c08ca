"""DORA: `/triops dora [service|team] [window]`, `triops dora`, the planner's delivery intent."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError
from tools.timeutil import WINDOW_FORMS, looks_like_window

ORDER = 10


def parse_dora_args(args: list[str]) -> dict[str, Any]:
    """The words may come in either order: a window and one service or team name."""
    scope: str | None = None
    window: str | None = None
    for word in args:
        if looks_like_window(word) and window is None:
            window = word
        elif scope is None and not word[:1].isdigit():
            scope = word
        else:
            raise ToolError(
                f"I did not understand '{word}'.",
                hint=f"Usage: dora [service|team] [window]; a window is {WINDOW_FORMS}.",
            )
    out: dict[str, Any] = {"window": window or "30d"}
    if scope:
        out["scope"] = scope
    return out


CAPABILITIES = [
    Capability(
        name="dora_metrics",
        tool="tools.dora.tool:dora_metrics",
        input="tools.dora.models:DoraQuery",
        summary="DORA metrics: deploy frequency, lead time, change fail rate, recovery time, rework rate",
        verbs=("dora", "delivery", "dora4", "dora5"),
        usage="[service|team] [window]",
        examples=("dora", "dora checkout 30d", "dora team-payments 90d"),
        parse=parse_dora_args,
        render="bot.render.dora:RENDERER",
        cli="dora",
        intents="dora.yaml",
        module=__file__,
        status="Looking at delivery metrics…",
    )
]
