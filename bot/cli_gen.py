"""CLI commands generated from capabilities, built only when they are used.

Each capability with a `cli` path becomes a command whose options come from its input model:
`cli_args` fields are positional arguments, other simple fields `--kebab-case` options (help
from the field's description, its default, Literal fields as choices, bool fields as
`--x/--no-x` flags), plus `--json`. The command runs the tool through `Runtime.run` and shows
the result with `show_result`.

Help is plain click help (`rich_markup_mode=None`): rich's help formatter costs a tenth of a
second of startup, and no description can break it with a '[/…]' that looks like markup.

Startup: a `CapabilityGroup` lists its generated commands by name and summary and builds one
(importing its input model) only when it is run or its own `--help` is asked for, so
`triops --help` imports no tool, renderer or input model at all.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    from bot.capabilities import Capabilities, Capability

SIMPLE = (str, int, float, bool)
Factory = Callable[[], Any]  # -> a click command


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """The field's type without None, and whether None was allowed."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        return annotation, True
    return annotation, False


def cli_type(annotation: Any) -> Any | None:
    """The type typer is given for a field, or None when the field has no CLI form."""
    from datetime import date, datetime

    base, _ = _unwrap(annotation)
    if base in SIMPLE or typing.get_origin(base) is typing.Literal:
        return base
    if base in (datetime, date):
        return str  # ISO 8601, validated by the model
    return None


def option_name(field: str) -> str:
    """'as_of' -> '--as-of'; a one-letter field is a short option ('k' -> '-k')."""
    return f"-{field}" if len(field) == 1 else "--" + field.replace("_", "-")


def _parameter(name: str, info: FieldInfo, positional: bool) -> inspect.Parameter | None:
    kind = cli_type(info.annotation)
    if kind is None:
        return None
    _, optional = _unwrap(info.annotation)
    help_text = info.description or ""
    required = info.is_required()
    default: Any = ... if required else info.get_default(call_default_factory=True)
    annotation: Any = kind | None if (optional or default is None) and kind is not bool else kind
    marker: Any
    if positional:
        marker = typer.Argument(help=help_text, show_default=not required and default is not None)
    elif kind is bool:
        flag = option_name(name)
        marker = typer.Option(f"{flag}/--no-{flag[2:]}", help=help_text)
    else:
        marker = typer.Option(option_name(name), help=help_text)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                             annotation=Annotated[annotation, marker], default=default)


JSON_PARAM = inspect.Parameter(
    "as_json", inspect.Parameter.KEYWORD_ONLY, default=False,
    annotation=Annotated[bool, typer.Option("--json", help="Print the tool's output model as JSON")],
)


def _scope_aliases(model: type[BaseModel]) -> list[inspect.Parameter]:
    """A model with a `scope` (a service or team name) but no `service`/`team` fields also
    takes `--service` and `--team`, which fill `scope` (the CLI's spelling since v1)."""
    fields = model.model_fields
    if "scope" not in fields or "service" in fields or "team" in fields:
        return []
    return [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None,
                          annotation=Annotated[str | None, typer.Option(help=f"A {n} (fills --scope)")])
        for n in ("service", "team")
    ]


def tool_args(model: type[BaseModel], values: dict[str, Any]) -> dict[str, Any]:
    """The command's values as the tool's arguments: unset options fall back to the model."""
    args = {k: v for k, v in values.items() if k in model.model_fields and v is not None}
    aliases = [values[n] for n in ("service", "team") if values.get(n) and n not in model.model_fields]
    if len(aliases) > 1 or (aliases and args.get("scope")):
        from bot.cli_common import usage_error

        usage_error("give one of --service, --team or --scope")
    if aliases:
        args["scope"] = aliases[0]
    return args


def command_for(cap: Capability, caps: Capabilities, name: str) -> Any:
    """The click command of one capability (its input model is imported now)."""
    model = cap.input_model
    params = [p for f, info in model.model_fields.items()
              if f in cap.cli_args and (p := _parameter(f, info, True)) is not None]
    params.sort(key=lambda p: cap.cli_args.index(p.name))
    params += [p for f, info in model.model_fields.items()
               if f not in cap.cli_args and (p := _parameter(f, info, False)) is not None]
    params += [*_scope_aliases(model), JSON_PARAM]

    def run(**values: Any) -> None:
        from bot.cli_common import run_tool

        as_json = values.pop("as_json")
        run_tool(cap.name, tool_args(model, values), as_json, caps)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {}
    run.__doc__ = cap.summary + (f"\n\nSame as /triops {cap.usage_line()}." if cap.verbs else "")
    one = typer.Typer(add_completion=False, rich_markup_mode=None)
    one.command(name)(run)
    return typer.main.get_command(one)


class CapabilityGroup(TyperGroup):
    """A typer group that also holds generated commands, each built on first use.

    `default_name`: when a capability's CLI path is this group itself (`triops model NAME`),
    its command joins the group under this name and also runs when no sub-command is named.
    """

    default_name: ClassVar[str | None] = None
    capabilities: ClassVar[Capabilities | None] = None  # set on the root group of a build

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy: dict[str, tuple[str, Factory]] = {}
        self.default: str | None = None
        self._listing = False
        if self.capabilities is not None:
            self.offer(self.capabilities, ())

    def offer(self, caps: Capabilities, prefix: tuple[str, ...]) -> None:
        """Add the commands of every capability whose CLI path lies under `prefix`.
        A hand-written command at the same path wins (it keeps behaviour the model lacks)."""
        for cap in caps:
            path = tuple(cap.cli_path)
            if len(path) <= len(prefix) or path[: len(prefix)] != prefix:
                continue
            head = path[len(prefix)]
            existing = self.commands.get(head)
            if len(path) == len(prefix) + 1:
                if isinstance(existing, CapabilityGroup):
                    existing.adopt_default(cap, caps)
                elif existing is None:
                    self.lazy[head] = (cap.summary, _command_factory(cap, caps, head))
            elif isinstance(existing, CapabilityGroup):
                existing.offer(caps, path[: len(prefix) + 1])
            elif existing is None and head not in self.lazy:
                self.lazy[head] = (f"{head} commands", _group_factory(caps, path[: len(prefix) + 1]))

    def adopt_default(self, cap: Capability, caps: Capabilities) -> None:
        name = self.default_name or cap.name
        if name not in self.commands:
            self.lazy[name] = (cap.summary, _command_factory(cap, caps, name))
            self.default = name

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(n for n in self.lazy if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in self.lazy:
            return None
        summary, factory = self.lazy[cmd_name]
        if self._listing:  # the group's help lists names and summaries: build nothing
            return TyperCommand(cmd_name, help=summary, short_help=summary)
        self.commands[cmd_name] = command = factory()
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if self.default and args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            args = [self.default, *args]
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _command_factory(cap: Capability, caps: Capabilities, name: str) -> Factory:
    return lambda: command_for(cap, caps, name)


def _group_factory(caps: Capabilities, prefix: tuple[str, ...]) -> Factory:
    return lambda: _group(caps, prefix)


def _group(caps: Capabilities, prefix: tuple[str, ...]) -> CapabilityGroup:
    group = CapabilityGroup(name=prefix[-1], help=f"{prefix[-1]} commands", no_args_is_help=True)
    group.offer(caps, prefix)
    return group


def root_group(caps: Capabilities) -> type[CapabilityGroup]:
    """The root group class of one app: it offers the commands of `caps`."""
    return type("RootGroup", (CapabilityGroup,), {"capabilities": caps})
