"""Plain-text rendering of tool outputs for the agent's own surfaces (CLI, fallback text).

When the surface renderers (`bot.render`) know an output type they are used, so the
deterministic rendering is the same everywhere; otherwise a compact, generic key: value
outline of the output is shown.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _surface_text(output: BaseModel) -> str | None:
    try:
        from bot.render.registry import renderer_for
    except ImportError:  # the surface renderers are not installed in this build
        return None
    r = renderer_for(output)
    return r.text(output) if r else None


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


def output_text(output: BaseModel) -> str:
    return _surface_text(output) or "\n".join(_outline(output.model_dump(mode="json")))
