"""`triops alerts …` (correlate offline, list, show, stats) and `triops ingest alerts FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, Field
from rich.console import Console

from tools.alerts.correlate import CorrelationEngine
from tools.alerts.files import LineError, read_alert_file
from tools.alerts.summary import summarise
from tools.catalog import ServiceCatalog
from tools.settings import Settings

app = typer.Typer(help="Alerts: correlate a file offline, list incidents, show one, noise figures.")
console = Console()
err = Console(stderr=True)


class CorrelatedIncident(BaseModel):
    id: str
    status: str
    severity: str
    title: str
    services: list[str]
    opened_at: str
    resolved_at: str | None
    alert_ids: list[str]
    probable_cause: str | None = None


class CorrelateOutput(BaseModel):
    """The stable `--json` interface for evaluation: incidents with their member alert ids."""

    notifications: int
    alerts: int
    incidents: list[CorrelatedIncident] = Field(default_factory=list)
    errors: list[LineError] = Field(default_factory=list)


def _catalog(services: Path | None) -> ServiceCatalog:
    path = services or Settings().services_path
    return ServiceCatalog.load(path)


def _need(path: Path) -> None:
    if not path.exists():
        err.print(f"[red]error:[/] no such file: {path}")
        raise typer.Exit(2)


@app.command()
def correlate(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="Print incidents with member alert ids as JSON")] = False,
    services: Annotated[Path | None, typer.Option(help="services.yaml (default: TRIOPS_SERVICES_FILE or TRIOPS_HOME)")] = None,
) -> None:
    """Run the correlation engine on a file of alerts, offline: nothing is stored."""
    _need(file)
    parsed = read_alert_file(file)
    cat = _catalog(services)
    engine = CorrelationEngine(cat)
    engine.run(parsed.alerts)
    incidents = []
    for inc in sorted(engine.incidents.values(), key=lambda i: (i.opened_at, i.id)):
        s = summarise(inc, cat)
        incidents.append(
            CorrelatedIncident(
                id=s.id, status=s.status, severity=s.severity, title=s.title, services=s.services,
                opened_at=s.opened_at.isoformat(), resolved_at=s.resolved_at.isoformat() if s.resolved_at else None,
                alert_ids=s.alert_ids, probable_cause=s.causes[0].service if s.causes else None,
            )
        )
    out = CorrelateOutput(
        notifications=len(parsed.alerts), alerts=len({a.id for a in parsed.alerts}),
        incidents=incidents, errors=parsed.errors,
    )
    if as_json:
        typer.echo(out.model_dump_json(indent=2))
    else:
        console.print(f"{out.notifications} notifications, {out.alerts} alerts -> {len(incidents)} incidents")
        for i in incidents:
            console.print(f"[bold]{i.id}[/] {i.severity:<8} {len(i.alert_ids):>4} alerts  {i.title}  "
                          f"(cause: {i.probable_cause or 'n/a'})")
    for e in parsed.errors:
        err.print(f"[yellow]line {e.line}:[/] {e.error}")
    if parsed.errors and not parsed.alerts:
        raise typer.Exit(1)


def ingest_alerts(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Alerts: JSON lines of generic alerts or Alertmanager/Grafana/PagerDuty/Opsgenie payloads."""
    from bot.runtime import Runtime
    from tools.alerts.pipeline import AlertPipeline

    _need(file)
    parsed = read_alert_file(file)
    rt = Runtime.build(Settings())
    result = AlertPipeline(rt.store, rt.catalog).ingest(parsed.alerts) if parsed.alerts else None
    summary = {
        "loaded": len(parsed.alerts),
        "incidents": result.incidents if result else [],
        "opened": result.opened if result else [],
        "errors": [e.model_dump() for e in parsed.errors],
    }
    if as_json:
        import json

        typer.echo(json.dumps(summary, indent=2))
    else:
        console.print(f"loaded {len(parsed.alerts)} alerts from {file}; "
                      f"{len(summary['opened'])} incidents opened, {len(summary['incidents'])} touched")
        for e in parsed.errors:
            err.print(f"[yellow]line {e.line}:[/] {e.error}")
    if parsed.errors and not parsed.alerts:
        raise typer.Exit(1)


def _run_tool(name: str, args: dict, as_json: bool) -> None:
    from bot.cli_common import show_result
    from bot.runtime import Runtime

    show_result(Runtime.build(Settings()).run(name, args, actor="cli"), as_json)


@app.command("list")
def list_incidents(
    service: Annotated[str | None, typer.Argument(help="Only incidents touching this service")] = None,
    state: Annotated[str, typer.Option(help="open | resolved | all")] = "open",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Alert incidents from the store (same as /triops alerts)."""
    _run_tool("alerts_list", {"service": service, "state": state}, as_json)


@app.command()
def show(incident_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """One incident with its alerts, probable causes and suspect change."""
    _run_tool("incident_get", {"id": incident_id}, as_json)


@app.command()
def stats(
    window: Annotated[str, typer.Option(help="12h, 7d, 30d…")] = "7d",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Noise figures: dedup ratio, compression, time to acknowledge and resolve."""
    _run_tool("alert_stats", {"window": window}, as_json)
