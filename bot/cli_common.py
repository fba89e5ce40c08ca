"""What every `triops` sub-command shares: the consoles, error exits, ingest reports.

Exit codes: 0 ok; 1 nothing loaded (every line of an ingest failed); 2 usage, missing file or
a tool's error; 3 an ingest loaded its good lines but some lines failed. Kept light: nothing
here imports a tool, the store or a renderer at module level (`triops --help` is instant).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import typer

from tools.errors import ToolError, TriopsError

if TYPE_CHECKING:
    from rich.console import Console

    from bot.capabilities import Capabilities
    from tools.result import ToolResult

EXIT_NOTHING_LOADED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
PIPE_WIDTH = 120  # a pipe or a file has no width: wide enough for every table's key columns


def _width(stream: Any) -> int | None:
    """The console width: COLUMNS or the terminal's; PIPE_WIDTH when writing to a pipe."""
    if os.environ.get("COLUMNS", "").isdigit():
        return None  # rich reads COLUMNS itself
    isatty = getattr(stream, "isatty", None)
    return None if isatty is not None and isatty() else PIPE_WIDTH


class _LazyConsole:
    """A rich Console made on first use: `triops --help` does not import rich at all."""

    def __init__(self, stderr: bool):
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            self._console = Console(stderr=self._stderr, width=_width(stream))
        return getattr(self._console, name)


console = cast("Console", _LazyConsole(stderr=False))
err_console = cast("Console", _LazyConsole(stderr=True))


def escape(text: str) -> str:
    """Text shown as-is inside rich markup ('[/x]' in an error must not be read as a tag)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def fail(exc: TriopsError) -> NoReturn:
    """A tool's user-facing error on stderr, exit code 2; never a stack trace."""
    err_console.print(f"[red]error:[/] {escape(exc.message)}", highlight=False)
    if exc.hint:
        err_console.print(exc.hint, markup=False)
    if exc.choices:
        err_console.print("choices: " + ", ".join(exc.choices), markup=False)
    raise typer.Exit(EXIT_USAGE)


def usage_error(message: str) -> NoReturn:
    err_console.print("[red]error:[/] " + message)
    raise typer.Exit(EXIT_USAGE)


def show_result(result: ToolResult, as_json: bool = False) -> None:
    """A tool's result on the terminal: its output as JSON or rendered, or its error (exit 2)."""
    if not result.ok:
        raise_exit(result)
    assert result.output is not None
    if as_json:
        typer.echo(result.output.model_dump_json(indent=2))
    else:
        from bot.render import to_rich
        from bot.reply import Reply

        console.print(to_rich(Reply.of(result)))


def run_tool(name: str, args: dict[str, Any], as_json: bool, caps: Capabilities | None = None) -> None:
    """Run one tool as the person at the terminal (actor "cli") and show its result."""
    from bot.runtime import Runtime
    from tools.settings import Settings

    show_result(Runtime.build(Settings(), capabilities=caps).run(name, args, actor="cli"), as_json)


def raise_exit(result: ToolResult) -> NoReturn:
    err = result.error
    assert err is not None
    fail(ToolError(err.message, hint=err.hint, choices=err.choices))


def require_file(path: Path) -> None:
    if not path.exists():
        usage_error(f"no such file: {path}")


INGEST_EXIT_HELP = ("Exit code: 0 every line loaded; 3 some lines failed (the good ones are "
                    "loaded); 1 lines failed and none loaded; 2 no such file.")


def ingest_exit(loaded: int, failed: int) -> None:
    """The exit code of an ingest: a partly bad file is not a success for a script."""
    if failed and not loaded:
        raise typer.Exit(EXIT_NOTHING_LOADED)
    if failed:
        raise typer.Exit(EXIT_PARTIAL)


def print_ingest(report: Any, noun: str, path: Path, as_json: bool) -> None:
    """Loaded count and each bad line with its number, then the exit code (`ingest_exit`).
    `report` is an `IngestReport` (loaded, errors: [{line, error}])."""
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        console.print(f"loaded {report.loaded} {noun} from {path}", markup=False, highlight=False)
        for e in report.errors:
            err_console.print(f"[yellow]line {e.line}:[/] {escape(str(e.error))}", highlight=False)
    ingest_exit(report.loaded, len(report.errors))
