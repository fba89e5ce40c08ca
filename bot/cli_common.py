"""What every `triops` sub-command shares: the consoles, error exits, ingest reports."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from tools.delivery.ingest import IngestReport
from tools.errors import ToolError

console = Console()
err_console = Console(stderr=True)


def fail(exc: ToolError) -> NoReturn:
    """A tool's user-facing error on stderr, exit code 2; never a stack trace."""
    err_console.print(f"[red]error:[/] {exc.message}")
    if exc.hint:
        err_console.print(exc.hint)
    if exc.choices:
        err_console.print("choices: " + ", ".join(exc.choices))
    raise typer.Exit(2)


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
