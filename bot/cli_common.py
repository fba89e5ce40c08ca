"""What every `triops` sub-command shares: the consoles, error exits, ingest reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer
from rich.console import Console

from tools.delivery.ingest import IngestReport
from tools.errors import ToolError, TriopsError

if TYPE_CHECKING:
    from tools.result import ToolResult

console = Console()
err_console = Console(stderr=True)


def fail(exc: TriopsError) -> NoReturn:
    """A tool's user-facing error on stderr, exit code 2; never a stack trace."""
    err_console.print(f"[red]error:[/] {exc.message}")
    if exc.hint:
        err_console.print(exc.hint)
    if exc.choices:
        err_console.print("choices: " + ", ".join(exc.choices))
    raise typer.Exit(2)


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


def raise_exit(result: ToolResult) -> NoReturn:
    err = result.error
    assert err is not None
    fail(ToolError(err.message, hint=err.hint, choices=err.choices))


def require_file(path: Path) -> None:
    if not path.exists():
        err_console.print(f"[red]error:[/] no such file: {path}")
        raise typer.Exit(2)


def print_ingest(report: IngestReport, noun: str, path: Path, as_json: bool) -> None:
    """Loaded count and each bad line with its number; exit 1 only when nothing loaded."""
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        console.print(f"loaded {report.loaded} {noun} from {path}")
        for e in report.errors:
            err_console.print(f"[yellow]line {e.line}:[/] {e.error}")
    if report.errors and not report.loaded:
        raise typer.Exit(1)
