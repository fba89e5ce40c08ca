"""Plain-text rendering of tool outputs for the agent's own surfaces (CLI, fallback text).

When the result's capability names a renderer it is used, so the
deterministic rendering is the same everywhere; otherwise a compact, generic key: value
outline of the output is shown.
"""

from __future__ import annotations

from typing import Any

from tools.result import ToolResult


def _surface_text(result: ToolResult) -> str | None:
    from bot.render.registry import renderer_for

    r = renderer_for(result)
    return r.text(result.output) if r else None


def _outline(value: Any, indent: int = 0, max_items: int = 8) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if v in (None, [], {}):
                continue
            if isinstance(v, dict | list):
                lines.append(f"{pad}{k}:")
                lines.extend(_outline(v, indent + 1, max_items))
            else:
                lines.append(f"{pad}{k}: {v}")
    elif isinstance(value, list):
        for item in value[:max_items]:
            sub = _outline(item, indent + 1, max_items)
            if sub:
                lines.append(f"{pad}- {sub[0].strip()}")
                lines.extend(sub[1:])
        if len(value) > max_items:
            lines.append(f"{pad}- … {len(value) - max_items} more")
    else:
        lines.append(f"{pad}{value}")
    return lines


def output_text(result: ToolResult) -> str:
    """The capability's own text rendering of a result, or an outline of its output."""
    assert result.output is not None
    return _surface_text(result) or "\n".join(_outline(result.output.model_dump(mode="json")))
