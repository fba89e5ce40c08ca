"""Shorten a tool result before the model sees it; keep secrets and injected orders out.

The cap shrinks structure first (long lists keep their head and say how many were left
out; long strings keep their start), so what the model reads is still valid, meaningful
JSON; only if that is not enough is the text cut. The full result stays with the caller
for grounding and rendering.
"""

from __future__ import annotations

import json
from typing import Any

from bot.agent.injection import WITHHELD, looks_like_injection
from bot.logs import redact


def _shrink(value: Any, max_items: int, max_str: int) -> Any:
    if isinstance(value, dict):
        return {k: _shrink(v, max_items, max_str) for k, v in value.items()}
    if isinstance(value, list):
        head = [_shrink(v, max_items, max_str) for v in value[:max_items]]
        if len(value) > max_items:
            head.append(f"… {len(value) - max_items} more items not shown")
        return head
    if isinstance(value, str):
        if looks_like_injection(value):
            return WITHHELD
        value = redact(value)
        if len(value) > max_str:
            return value[:max_str] + f"… [{len(value) - max_str} more characters]"
    return value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def cap_json(value: Any, max_chars: int) -> tuple[str, bool]:
    """JSON text of `value`, at most `max_chars` long; True when anything was left out."""
    full = _dumps(_shrink(value, 10**9, 10**9))
    if len(full) <= max_chars:
        return full, full != _dumps(value)
    for max_items, max_str in ((20, 800), (10, 400), (5, 200), (3, 120), (2, 80), (1, 60)):
        text = _dumps(_shrink(value, max_items, max_str))
        if len(text) <= max_chars:
            return text, True
    marker = "… [truncated]"
    return text[: max_chars - len(marker)] + marker, True
