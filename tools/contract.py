"""The tool contract: a pydantic input model in, a pydantic output model out.

One definition serves the slash command, the CLI, the agent (wrapped generically from the
schemas) and the tests, so no surface needs per-tool code to call a tool.
"""

from __future__ import annotations

import inspect
import threading
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import ToolError
from tools.settings import Settings
from tools.timeutil import now_utc

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


@dataclass
class ToolContext:
    """What a tool may use: settings, the store, the service catalog, a clock, shared resources.

    `resource()` builds heavy things (a vector index, a model) once per context, lazily,
    so a tool that does not need them never pays for them.
    """

    settings: Settings
    store: Any  # tools.store.Store; typed loosely to keep this module import-light
    catalog: Any  # tools.catalog.ServiceCatalog
    clock: Callable[[], datetime] = now_utc
    _resources: dict[str, Any] = field(default_factory=dict)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now(self) -> datetime:
        return self.clock()

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """Build once even when a warm-up thread and the first request ask at the same time;
        one slow resource (the runbook index) never holds up another."""
        if key in self._resources:
            return self._resources[key]
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._resources:
                self._resources[key] = factory()
            return self._resources[key]


@dataclass(frozen=True)
class Tool(Generic[In, Out]):
    name: str
    description: str
    input_model: type[In]
    output_model: type[Out]
    func: Callable[[ToolContext, In], Out]
    # A tool that changes a system is never offered to the agent and runs only after approval.
    mutates: bool = False

    def run(self, ctx: ToolContext, args: In | dict[str, Any] | None = None) -> Out:
        """Validate the arguments, call the tool, validate the result."""
        if isinstance(args, self.input_model):
            parsed = args
        else:
            try:
                parsed = self.input_model.model_validate(args or {})
            except ValidationError as exc:
                raise ToolError(
                    f"Bad arguments for {self.name}: {_validation_summary(exc)}",
                    hint=f"Expected fields: {', '.join(self.input_model.model_fields)}",
                ) from exc
        result = self.func(ctx, parsed)
        if not isinstance(result, self.output_model):
            raise TypeError(f"{self.name} returned {type(result).__name__}")
        return result


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "input"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def tool(name: str, description: str, *, mutates: bool = False) -> Callable[[Callable[..., Out]], Tool]:
    """Decorator: infer the input and output models from the function's annotations."""

    def wrap(func: Callable[..., Out]) -> Tool:
        hints = typing.get_type_hints(func)
        params = list(inspect.signature(func).parameters)
        if len(params) != 2:
            raise TypeError(f"tool {name} must take (ctx, args)")
        return Tool(
            name=name,
            description=description,
            input_model=hints[params[1]],
            output_model=hints["return"],
            func=func,
            mutates=mutates,
        )

    return wrap


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None):
        self._tools: dict[str, Tool] = {}
        for t in tools or []:
            self.register(t)

    def register(self, t: Tool) -> None:
        if t.name in self._tools:
            raise ValueError(f"tool {t.name} registered twice")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(f"No tool named '{name}'.", choices=sorted(self._tools)) from None

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return list(self._tools)

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any] | BaseModel | None = None) -> BaseModel:
        return self.get(name).run(ctx, args)
