"""`triops` command line.

Every capability with a `cli` path (bot/capabilities) is a command generated from its input
model (bot/cli_gen.py): `dora`, `alerts list|stats|show`, `model NAME` (= `model status
NAME`), `usage`… Hand-written commands remain where they add something a model cannot say:
demo, chat, serve, ask, ingest, kb admin, eval, alerts correlate, model list|sync-mlflow, and
`drift` (two data files as positional arguments, `--chart`) and `kb search` (`--batch`, a
versioned JSON) — a hand-written command at a capability's path wins over the generated one.

Importing this module is cheap: heavy libraries are imported inside the commands.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot import cli_alerts, cli_kb, cli_metrics, cli_mlops
from bot.cli_common import INGEST_EXIT_HELP, console, print_ingest, require_file
from bot.cli_gen import root_group

if TYPE_CHECKING:
    from bot.capabilities import Capabilities

HELP = "triops: DevOps, MLOps and AIOps answers in Slack."


def demo(
    seed: Annotated[int, typer.Option(help="Scenario seed")] = 7,
    now: Annotated[str | None, typer.Option(help="Scenario 'now' (ISO 8601); default the demo's fixed date")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Wipe the demo store and seed it again")] = False,
) -> None:
    """Seed the demo scenario into its own store ($TRIOPS_HOME/demo) and show the bot's answers."""
    from datetime import datetime

    from bot import demo as demo_mod
    from bot import logs
    from tools.settings import Settings
    from tools.timeutil import utc

    logs.setup("WARNING")
    anchor = utc(datetime.fromisoformat(now)) if now else demo_mod.DEMO_ANCHOR
    demo_mod.run(Settings(), seed, anchor, console, reset=reset)


def chat() -> None:
    """A console conversation through the same router and renderers as Slack."""
    from bot import logs
    from bot.agent.surface import make_router
    from bot.render import to_rich
    from bot.router import Asker
    from bot.runtime import Runtime
    from tools.settings import Settings

    logs.setup("WARNING")
    router = make_router(Runtime.build(Settings()))
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


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default TRIOPS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PORT or 3000)")] = None,
) -> None:
    """Run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP) and the webhooks."""
    from bot import logs
    from bot.serve import run_server
    from tools.settings import Settings

    logs.setup("INFO")
    run_server(Settings(), host=host, port=port)


def _ingest(kind: str, path: Path, as_json: bool) -> None:
    from bot.runtime import Runtime
    from tools.delivery.ingest import ingest_file
    from tools.settings import Settings

    require_file(path)
    print_ingest(ingest_file(Runtime.build(Settings()).store, path, kind), kind, path, as_json)


def ingest_deployments(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Deployments: {id, service, environment, started_at, finished_at, status, kind, remediates, commits, team, version}."""
    _ingest("deployments", file, as_json)


def ingest_incidents(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Incidents: {id, service, opened_at, resolved_at, caused_by_deployment, severity}."""
    _ingest("incidents", file, as_json)


def _ingest_app() -> typer.Typer:
    ingest = typer.Typer(help="Load events from files (JSON lines, JSON array or CSV). " + INGEST_EXIT_HELP,
                         no_args_is_help=True)
    for name, func in (("deployments", ingest_deployments), ("incidents", ingest_incidents),
                       ("alerts", cli_alerts.ingest_alerts), ("models", cli_mlops.ingest_models)):
        ingest.command(name, epilog=INGEST_EXIT_HELP)(func)
    ingest.command("features")(cli_mlops.ingest_features)
    ingest.command("labels")(cli_mlops.ingest_labels)
    return ingest


def _eval_app() -> typer.Typer:
    """One `triops eval` group: `eval runbooks` (knowledge) and `eval agent` (agent)."""
    from bot import cli_agent

    eval_app = typer.Typer(help="Evaluate triops on labelled data.", no_args_is_help=True)
    for sub in (cli_kb.eval_app, cli_agent.eval_app):
        eval_app.registered_commands.extend(sub.registered_commands)
    return eval_app


def build_app(caps: Capabilities | None = None) -> typer.Typer:
    """The CLI over `caps` (default: every capability): hand-written commands plus one
    generated command per capability with a `cli` path."""
    from bot import cli_agent

    if caps is None:
        from bot.capabilities import capabilities

        caps = capabilities()
    app = typer.Typer(help=HELP, no_args_is_help=True, cls=root_group(caps), rich_markup_mode=None)
    for func in (demo, chat, serve):
        app.command()(func)
    app.command("ask")(cli_agent.ask)
    app.add_typer(_ingest_app(), name="ingest")
    app.add_typer(cli_kb.app, name="kb")
    app.add_typer(cli_mlops.app)
    app.add_typer(cli_alerts.app, name="alerts")
    app.add_typer(cli_metrics.app, name="anomalies")
    app.add_typer(_eval_app(), name="eval")
    return app


app = build_app()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
