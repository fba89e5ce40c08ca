"""Renderers per tool output type: Block Kit, plain text and rich, kept apart from tools."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from slack_sdk.models.blocks import Block


@dataclass(frozen=True)
class Renderer:
    blocks: Callable[[Any], list[Block]]
    text: Callable[[Any], str]
    rich: Callable[[Any], Any]


_RENDERERS: dict[type[BaseModel], Renderer] = {}


def register(model: type[BaseModel], renderer: Renderer) -> None:
    _RENDERERS[model] = renderer


def renderer_for(output: BaseModel) -> Renderer | None:
    for cls in type(output).__mro__:
        if cls in _RENDERERS:
            return _RENDERERS[cls]
    return None
