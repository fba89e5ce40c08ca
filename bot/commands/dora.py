"""`/triops dora [service|team] [window]` — the words may come in either order."""

from __future__ import annotations

from bot.commands.base import Command, Reply, run_tool
from bot.runtime import Runtime
from tools.errors import ToolError
from tools.timeutil import WINDOW_FORMS, looks_like_window


def parse_dora_args(args: list[str]) -> dict[str, str]:
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
    out: dict[str, str] = {"window": window or "30d"}
    if scope:
        out["scope"] = scope
    return out


def handle(rt: Runtime, args: list[str]) -> Reply:
    try:
        parsed = parse_dora_args(args)
    except ToolError as exc:
        return Reply(error=exc.as_dict(), ephemeral=True)
    return run_tool(rt, "dora_metrics", parsed)


COMMANDS = [
    Command(
        verb="dora",
        usage="dora [service|team] [window]",
        summary="DORA metrics: deploy frequency, lead time, change fail rate, recovery time, rework rate",
        handler=handle,
        aliases=("delivery", "dora4", "dora5"),
        examples=("dora", "dora checkout 30d", "dora team-payments 90d"),
    )
]
