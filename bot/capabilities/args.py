"""Generic argument handling from a tool's input model: Slack words and CLI usage."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tools.errors import ToolError
from tools.timeutil import looks_like_window


def _is_simple(info: FieldInfo) -> bool:
    ann = info.annotation
    args = typing.get_args(ann) if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union else (ann,)
    return all(a in (str, int, float, bool, type(None)) or typing.get_origin(a) is typing.Literal for a in args)


def positional_fields(model: type[BaseModel]) -> list[str]:
    """Required simple fields, in declaration order: what bare words fill."""
    return [n for n, f in model.model_fields.items() if f.is_required() and _is_simple(f)]


def usage_of(model: type[BaseModel]) -> str:
    parts = [n.upper() for n in positional_fields(model)]
    parts += [f"[{n}=…]" for n, f in model.model_fields.items() if not f.is_required() and _is_simple(f)]
    return " ".join(parts)


def generic_parse(model: type[BaseModel], words: list[str], *, usage: str) -> dict[str, Any]:
    """Bare words fill the required fields in order (a window-like word fills `window`);
    `key=value` fills any field. Unknown keys and extra words are errors that show usage."""
    fields = model.model_fields
    out: dict[str, Any] = {}
    positional = positional_fields(model)
    for word in words:
        key, eq, value = word.partition("=")
        if eq:
            if key not in fields:
                raise ToolError(f"I don't know the option '{key}'.", hint=f"Usage: {usage}",
                                choices=sorted(fields))
            out[key] = value
        elif "window" in fields and "window" not in out and looks_like_window(word):
            out["window"] = word
        else:
            free = [p for p in positional if p not in out]
            if not free:
                raise ToolError(f"I did not understand '{word}'.", hint=f"Usage: {usage}")
            out[free[0]] = word
    return out
