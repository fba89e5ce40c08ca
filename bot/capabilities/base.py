"""A capability: one tool and everything every surface needs to offer it, declared once.

Slack and the console (verbs, usage, examples, argument parsing), the CLI (a command built
from the input model), the renderer, the planner's intents (a YAML file beside the module)
and the status line all come from one `Capability`. Heavy things (the tool's module, the
renderer) are named by import path and loaded on first use, so listing capabilities costs
nothing: `triops --help` never imports pandas.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from bot.render.registry import Renderer
    from tools.contract import Tool

# Slack/console words after the verb -> the tool's arguments (raise ToolError to explain).
Parser = Callable[[list[str]], dict[str, Any]]


def load(path: str) -> Any:
    """'package.module:attribute' -> the attribute (imported now)."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True, eq=False)
class Capability:
    """One thing triops can do. `tool` and `render` may be import paths ('module:attr')."""

    tool: str | Tool[Any, Any]
    summary: str
    name: str = ""  # the tool's name; required when `tool` is an import path
    verbs: tuple[str, ...] = ()  # Slack/console verbs; multi-word ones ("alerts stats") win
    usage: str | None = None  # after the verb; default built from the input model
    examples: tuple[str, ...] = ()
    parse: Parser | None = None  # default: positional fields in order, then key=value
    render: str | Renderer | None = None
    input: str | type[BaseModel] | None = None  # light import path of the input model
    cli: str | bool = True  # CLI command path ("dora", "alerts list"); False: no command
    cli_args: tuple[str, ...] = ()  # input fields taken as positional CLI arguments
    intents: str | dict[str, Any] | None = None  # a YAML file beside `module`, or the dict
    module: str | None = None  # the declaring module's __file__ (for `intents` paths)
    status: str = "Looking it up…"  # posted in the thread while the answer is made
    # 'module:function' (ctx) -> names, offered when the words name nothing usable
    choices: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name:
            if isinstance(self.tool, str):
                raise ValueError(f"capability {self.tool}: give its name")
            object.__setattr__(self, "name", self.tool.name)

    @cached_property
    def resolved_tool(self) -> Tool[Any, Any]:
        t = load(self.tool) if isinstance(self.tool, str) else self.tool
        if t.name != self.name:
            raise ValueError(f"capability {self.name} points at tool {t.name}")
        return t

    @cached_property
    def input_model(self) -> type[BaseModel]:
        if self.input is None:
            return self.resolved_tool.input_model
        return load(self.input) if isinstance(self.input, str) else self.input

    @cached_property
    def renderer(self) -> Renderer | None:
        return load(self.render) if isinstance(self.render, str) else self.render

    @cached_property
    def intent_specs(self) -> dict[str, Any]:
        """The planner intents of this capability: {intent name: spec}."""
        if self.intents is None:
            return {}
        if isinstance(self.intents, dict):
            return self.intents
        import yaml

        base = Path(self.module).parent if self.module else Path(__file__).parent
        data = yaml.safe_load((base / self.intents).read_text())
        return dict(data.get("intents", data))

    @property
    def verb(self) -> str | None:
        return self.verbs[0] if self.verbs else None

    @property
    def cli_path(self) -> list[str]:
        if self.cli is False:
            return []
        if isinstance(self.cli, str):
            return self.cli.split()
        return (self.verb or self.name.replace("_", "-")).split()

    def usage_line(self) -> str:
        if self.usage is not None:
            return f"{self.verb} {self.usage}".strip()
        from bot.capabilities.args import usage_of

        return f"{self.verb} {usage_of(self.input_model)}".strip()

    def parse_words(self, words: list[str]) -> dict[str, Any]:
        if self.parse is not None:
            return self.parse(words)
        from bot.capabilities.args import generic_parse

        return generic_parse(self.input_model, words, usage=self.usage_line())
