"""`triops kb …` (ingest, list, remove, search) and `triops eval runbooks`.

`kb search --json` prints the `runbook_search` tool's output model with a `version` field:
a stable interface for scripts. `--batch FILE` reads one query per line ('-' for stdin) and
writes one JSON object per line, loading the model once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli_common import console, err_console
from bot.cli_gen import CapabilityGroup
from tools.errors import ToolError

if TYPE_CHECKING:
    from tools.settings import Settings

JSON_VERSION = 1

app = typer.Typer(help="Runbook knowledge base: ingest folders of markdown runbooks, list, search.",
                  no_args_is_help=True, cls=CapabilityGroup)
eval_app = typer.Typer(help="Evaluations that print figures.", no_args_is_help=True)


def _kb(settings: Settings | None = None, *, seed_default: bool = True) -> Any:
    from knowledge.service import KnowledgeBaseUnavailable, open_knowledge_base
    from tools.settings import Settings

    try:
        return open_knowledge_base(settings or Settings(), seed_default=seed_default)
    except KnowledgeBaseUnavailable as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


@app.command()
def ingest(
    folder: Path,
    name: Annotated[str | None, typer.Option(help="Corpus name (default: corpus.yaml or the folder name)")] = None,
    url_template: Annotated[str | None, typer.Option(
        help="Published URL of a file: {path} {stem} {stem_lower} {parent}")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add or refresh a folder of markdown runbooks: only changed sections are re-embedded,
    removed ones are deleted."""
    from knowledge.sources import CorpusError

    kb = _kb()
    try:
        report = kb.ingest_folder(folder, name, url_template)
    except CorpusError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(report.model_dump_json())
        return
    console.print(
        f"{report.corpus}: {report.documents} runbooks, {report.chunks} sections — "
        f"{report.added} added, {report.updated} updated, {report.deleted} removed, "
        f"{report.unchanged} unchanged ({report.embedded} embedded, {report.seconds:.2f} s)"
    )


@app.command("list")
def list_corpora(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Corpora in the index, with their runbook and section counts."""
    from rich.table import Table

    infos = _kb().corpora()
    if as_json:
        typer.echo(json.dumps([i.model_dump() for i in infos]))
        return
    table = Table(title="runbook corpora")
    for col in ("name", "runbooks", "sections", "source"):
        table.add_column(col)
    for i in infos:
        table.add_row(i.name, str(i.documents), str(i.chunks), i.source or "")
    console.print(table)


@app.command()
def remove(name: str) -> None:
    """Delete a corpus from the index."""
    n = _kb(seed_default=False).remove_corpus(name)
    console.print(f"removed {n} sections of {name}" if n else f"no corpus named {name}")
    if not n:
        raise typer.Exit(1)


def _search_json(ctx: Any, query: str, k: int) -> str:
    from tools.runbooks.tool import runbook_search

    result = runbook_search.run(ctx, {"query": query, "k": k}, actor="cli")
    if result.ok:
        assert result.output is not None
        return json.dumps({"version": JSON_VERSION, **result.output.model_dump(mode="json")})
    err = result.error
    assert err is not None
    return json.dumps({"version": JSON_VERSION, "query": query, "error": err.message, "hint": err.hint,
                       "choices": err.choices})


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="An alert name or a question")] = None,
    k: Annotated[int, typer.Option("-k", help="How many runbooks", min=1, max=10)] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Stable JSON (one object per query)")] = False,
    batch: Annotated[Path | None, typer.Option(help="One query per line ('-' = stdin)")] = None,
) -> None:
    """Find runbooks for an alert or a question."""
    from tools.contract import ToolContext
    from tools.runbooks.tool import knowledge_base, runbook_search
    from tools.settings import Settings

    if (query is None) == (batch is None):
        err_console.print("[red]error:[/] give a QUERY or --batch FILE")
        raise typer.Exit(2)
    settings = Settings()
    # runbook_search reads neither the store nor the catalog: none is opened for it
    ctx = ToolContext(settings=settings, store=None, catalog=None)  # type: ignore[arg-type]
    try:
        knowledge_base(ctx)  # open once, before the loop
    except ToolError as exc:
        err_console.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    if batch is not None:
        if str(batch) != "-" and not batch.is_file():
            err_console.print(f"[red]error:[/] no such file: {batch}")
            raise typer.Exit(2)
        lines = sys.stdin if str(batch) == "-" else batch.open(encoding="utf-8")
        for line in lines:
            if line.strip():
                typer.echo(_search_json(ctx, line.strip(), k))
        return
    assert query is not None
    if as_json:
        typer.echo(_search_json(ctx, query, k))
        return
    from bot.cli_common import show_result

    show_result(runbook_search.run(ctx, {"query": query, "k": k}, actor="cli"))


@eval_app.command("runbooks")
def eval_runbooks(
    rules: Annotated[Path | None, typer.Option(help="alerts.jsonl (default: bench/data/alert-rules)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recall@1/@3 and MRR of BM25, dense and hybrid search on real alert rules, and how often
    alerts without a runbook rightly get "none" (runs on a throwaway index)."""
    import tempfile

    from knowledge.evaluation import (
        build_queries,
        default_rules_path,
        evaluate,
        format_report,
        load_rules,
    )
    from tools.settings import Settings

    path = rules or default_rules_path()
    if not path.is_file():
        err_console.print(f"[red]error:[/] no such file: {path} (pass --rules)")
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory() as home:
        kb = _kb(Settings().model_copy(update={"home": Path(home), "chroma_url": None}))
        report = evaluate(kb, build_queries(load_rules(path)))
    typer.echo(report.model_dump_json(indent=2) if as_json else format_report(report))
