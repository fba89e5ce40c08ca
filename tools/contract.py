"""The tool contract: a pydantic input model in, a pydantic output model out.

One definition serves the slash command, the CLI, the agent (wrapped generically from the
schemas) and the tests, so no surface needs per-tool code to call a tool.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import typing
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from tools.errors import ApprovalRequired, ToolError, TriopsError
from tools.result import ToolResult
from tools.settings import Settings
from tools.timeutil import now_utc

if TYPE_CHECKING:
    from tools.catalog import ServiceCatalog
    from tools.store import Store

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)

log = logging.getLogger("triops.tools")

# Called after every tool call with (result, actor): the runtime audits through it.
CallHook = Callable[[ToolResult, str], None]

# Who the calls of the current request are for (a Slack user id, "cli"…); set by surfaces.
current_actor: ContextVar[str] = ContextVar("triops_actor", default="system")


@dataclass
class ToolContext:
    """What a tool may use: settings, the store, the service catalog, a clock, shared resources.

    `resource()` builds heavy things (a vector index, a model) once per context, lazily,
    so a tool that does not need them never pays for them.
    """

    settings: Settings
    store: Store
    catalog: ServiceCatalog
    clock: Callable[[], datetime] = now_utc
    on_call: CallHook | None = None
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

    def parse(self, args: In | dict[str, Any] | None) -> In:
        """The arguments as the tool's input model, or a ToolError naming the bad fields."""
        if isinstance(args, self.input_model):
            return args
        try:
            return self.input_model.model_validate(args or {})
        except ValidationError as exc:
            raise ToolError(
                f"Bad arguments for {self.name}: {_validation_summary(exc)}",
                hint=f"Expected fields: {', '.join(self.input_model.model_fields)}",
            ) from exc

    def run(
        self,
        ctx: ToolContext,
        args: In | dict[str, Any] | None = None,
        *,
        actor: str | None = None,
        approved_by: str | None = None,
    ) -> ToolResult:
        """The one wrapper every call goes through: validate, call, time, log, audit.

        Never raises: a `TriopsError` becomes its status, anything else an internal error
        with a log reference (the trace goes to the log, never to the asker)."""
        raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args or {})
        actor = actor or current_actor.get()
        ref = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        try:
            if self.mutates and not approved_by:
                raise ApprovalRequired(
                    f"{self.name} changes a system: it runs only after a person approves it."
                )
            output = self.func(ctx, self.parse(args))
            if not isinstance(output, self.output_model):
                raise TypeError(f"{self.name} returned {type(output).__name__}")
            result = ToolResult(tool=self.name, args=raw, output=output, ref=ref)
        except TriopsError as exc:
            result = ToolResult.failed(self.name, raw, exc, ref=ref)
        except Exception as exc:
            log.exception("tool %s failed (ref %s)", self.name, ref)
            result = ToolResult(
                tool=self.name, args=raw, status="error", ref=ref,
                message=f"{self.name} failed with an internal error ({type(exc).__name__}, ref {ref}).",
                hint="It is logged; try again, or ask about something else.",
            )
        result.ms = (time.perf_counter() - started) * 1000
        log.info("tool %s %s in %.1f ms (ref %s, actor %s)", self.name, result.status, result.ms, ref, actor)
        if ctx.on_call is not None:
            try:
                ctx.on_call(result, actor)
            except Exception:  # an audit failure must not hide the answer; it is logged loudly
                log.exception("audit of tool call %s failed (ref %s)", self.name, ref)
        return result

    def call(self, ctx: ToolContext, args: In | dict[str, Any] | None = None, **kw: Any) -> Out:
        """`run`, then the output or the failure raised again (for code, not surfaces)."""
        return typing.cast(Out, self.run(ctx, args, **kw).unwrap())


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
    """Tools by name. A tool may be registered as a loader, imported on first use, so a
    registry of every tool costs nothing until one is called."""

    def __init__(self, tools: list[Tool[Any, Any]] | None = None):
        self._tools: dict[str, Tool[Any, Any] | Callable[[], Tool[Any, Any]]] = {}
        self._lock = threading.Lock()
        for t in tools or []:
            self.register(t)

    def register(self, t: Tool[Any, Any]) -> None:
        self._add(t.name, t)

    def register_lazy(self, name: str, loader: Callable[[], Tool[Any, Any]]) -> None:
        self._add(name, loader)

    def _add(self, name: str, entry: Tool[Any, Any] | Callable[[], Tool[Any, Any]]) -> None:
        if name in self._tools:
            raise ValueError(f"tool {name} registered twice")
        self._tools[name] = entry

    def get(self, name: str) -> Tool[Any, Any]:
        try:
            entry = self._tools[name]
        except KeyError:
            raise ToolError(f"No tool named '{name}'.", choices=sorted(self._tools)) from None
        if isinstance(entry, Tool):
            return entry
        with self._lock:
            loaded = entry()
            self._tools[name] = loaded
        return loaded

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter([self.get(n) for n in list(self._tools)])

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return list(self._tools)

    def run(self, ctx: ToolContext, name: str, args: dict[str, Any] | BaseModel | None = None,
            **kw: Any) -> ToolResult:
        """Every call by name goes through here; an unknown name is an error result too."""
        if name not in self._tools:
            raw = args.model_dump(mode="json") if isinstance(args, BaseModel) else dict(args or {})
            return ToolResult.failed(name, raw, ToolError(f"No tool named '{name}'.", choices=sorted(self._tools)))
        return self.get(name).run(ctx, args, **kw)

    def call(self, ctx: ToolContext, name: str, args: dict[str, Any] | BaseModel | None = None) -> BaseModel:
        return self.run(ctx, name, args).unwrap()
