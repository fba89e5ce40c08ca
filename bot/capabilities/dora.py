"""DORA: `/triops dora [service|team] [window]` (or `dora team NAME`), `triops dora`, the planner's
delivery intent."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError

ORDER = 10


KINDS = ("service", "team")


def parse_dora_args(args: list[str]) -> dict[str, Any]:
    """A window and one name, in either order. A bare name is `scope` (a service, else a
    team); `team NAME` / `service NAME` say which, and fill the explicit field."""
    from tools.timeutil import WINDOW_FORMS, looks_like_window  # pydantic: not at import

    subject: tuple[str, str] | None = None  # (field, name)
    window: str | None = None
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else None
        if looks_like_window(word) and window is None:
            window = word
        elif subject is None and word.lower() in KINDS and nxt and not looks_like_window(nxt):
            subject = (word.lower(), nxt)
            i += 1
        elif subject is None and not word[:1].isdigit():
            subject = ("scope", word)
        else:
            raise ToolError(
                f"I did not understand '{word}'.",
                hint=f"Usage: dora [service|team] [window], or dora team NAME [window]; "
                f"a window is {WINDOW_FORMS}.",
            )
        i += 1
    out: dict[str, Any] = {"window": window or "30d"}
    if subject:
        out[subject[0]] = subject[1]
    return out


CAPABILITIES = [
    Capability(
        name="dora_metrics",
        tool="tools.dora.tool:dora_metrics",
        input="tools.dora.models:DoraQuery",
        summary="DORA metrics: deploy frequency, lead time, change fail rate, recovery time, rework rate",
        verbs=("dora", "delivery", "dora4", "dora5"),
        usage="[service|team] [window]",
        examples=("dora", "dora checkout 30d", "dora team-payments 90d", "dora team payments 30d"),
        parse=parse_dora_args,
        render="bot.render.dora:RENDERER",
        cli="dora",
        intents="dora.yaml",
        module=__file__,
        status="Looking at delivery metrics…",
    )
]
