"""`triops` command line: demo, chat, serve, dora, ingest (and each domain's sub-commands)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bot import cli_alerts, cli_kb, cli_mlops, logs
from bot.cli_common import console, err_console, print_ingest, require_file, show_result
from bot.render import to_rich
from bot.router import Asker
from bot.runtime import Runtime
from tools.settings import Settings
from tools.timeutil import utc

app = typer.Typer(help="triops: DevOps, MLOps and AIOps answers in Slack.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load delivery events from files (JSON lines, JSON array or CSV).")
app.add_typer(ingest_app, name="ingest")
app.add_typer(cli_kb.app, name="kb")
cli_mlops.register_ingest(ingest_app)
app.add_typer(cli_mlops.app)
app.add_typer(cli_alerts.app, name="alerts")
ingest_app.command("alerts")(cli_alerts.ingest_alerts)



def _runtime() -> Runtime:
    return Runtime.build(Settings())


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Scenario seed")] = 7,
    now: Annotated[str | None, typer.Option(help="Scenario 'now' (ISO 8601); default today 00:00 UTC")] = None,
) -> None:
    """Seed the demo scenario into the embedded store and show the bot's answers."""
    from bot import demo as demo_mod

    logs.setup("WARNING")
    anchor = utc(datetime.fromisoformat(now)) if now else demo_mod.anchor_now()
    demo_mod.run(Settings(), seed, anchor, console)


@app.command()
def chat() -> None:
    """A console conversation through the same router and renderers as Slack."""
    logs.setup("WARNING")
    from bot.agent.surface import make_router

    router = make_router(_runtime())
    interactive = sys.stdin.isatty()
    if interactive:
        console.print("triops chat — type `help`, or `quit` to leave.")
    while True:
        try:
            line = input("you › " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            break
        if line.strip().lower() in {"quit", "exit", ":q"}:
            break
        if not line.strip():
            continue
        console.print(to_rich(router.handle(line, Asker(user="console", surface="console", thread_ts="console"))))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TRIOPS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 3000)")] = None,
) -> None:
    """Run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP) and the webhooks."""
    from bot.serve import run_server

    logs.setup("INFO")
    run_server(Settings(), host=host, port=port)


@app.command()
def dora(
    service: Annotated[str | None, typer.Option(help="A service")] = None,
    team: Annotated[str | None, typer.Option(help="A team")] = None,
    window: Annotated[str, typer.Option(help="Window: 7d, 30d, 12w, 3m…")] = "30d",
    as_of: Annotated[str | None, typer.Option("--as-of", help="End of the window (ISO 8601)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tool's output model as JSON")] = False,
) -> None:
    """DORA metrics for a service, a team or the whole org (same numbers as /triops dora)."""
    if service and team:
        err_console.print("[red]error:[/] give --service or --team, not both")
        raise typer.Exit(2)
    rt = _runtime()
    args: dict = {"window": window, "scope": service or team}
    if as_of:
        args["as_of"] = as_of
    show_result(rt.run("dora_metrics", args, actor="cli"), as_json)


def _ingest(kind: str, path: Path, as_json: bool) -> None:
    from tools.delivery.ingest import ingest_file

    require_file(path)
    print_ingest(ingest_file(_runtime().store, path, kind), kind, path, as_json)


@ingest_app.command("deployments")
def ingest_deployments(
    file: Path, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Deployments: {id, service, environment, started_at, finished_at, status, kind, remediates, commits, team, version}."""
    _ingest("deployments", file, as_json)


@ingest_app.command("incidents")
def ingest_incidents(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Incidents: {id, service, opened_at, resolved_at, caused_by_deployment, severity}."""
    _ingest("incidents", file, as_json)


def _register_domains() -> None:
    from bot import cli_agent

    cli_agent.register(app)
    # One `triops eval` group: `eval runbooks` (knowledge) and `eval agent` (agent).
    eval_app = typer.Typer(help="Evaluate triops on labelled data.", no_args_is_help=True)
    for sub in (cli_kb.eval_app, cli_agent.eval_app):
        eval_app.registered_commands.extend(sub.registered_commands)
    app.add_typer(eval_app, name="eval")


_register_domains()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
