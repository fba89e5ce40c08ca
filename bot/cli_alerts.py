"""`triops alerts correlate FILE` (offline) and `triops ingest alerts FILE`.

`alerts list|stats|show` are generated from their capabilities (bot/cli_gen.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli_common import console, escape, ingest_exit, require_file
from bot.cli_common import err_console as err
from bot.cli_gen import CapabilityGroup

if TYPE_CHECKING:
    from tools.catalog import ServiceCatalog

app = typer.Typer(help="Alerts: correlate a file offline, list incidents, show one, noise figures.",
                  cls=CapabilityGroup, no_args_is_help=True)


def _catalog(services: Path | None) -> ServiceCatalog:
    from tools.catalog import ServiceCatalog
    from tools.settings import Settings

    path = services or Settings().services_path
    return ServiceCatalog.load(path)


@app.command()
def correlate(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="Print incidents with member alert ids as JSON")] = False,
    services: Annotated[Path | None, typer.Option(help="services.yaml (default: TRIOPS_SERVICES_FILE or TRIOPS_HOME)")] = None,
) -> None:
    """Run the correlation engine on a file of alerts, offline: nothing is stored."""
    from bot.cli_alerts_json import CorrelatedIncident, CorrelateOutput
    from tools.alerts.correlate import CorrelationEngine
    from tools.alerts.files import read_alert_file
    from tools.alerts.summary import summarise

    require_file(file)
    parsed = read_alert_file(file)
    cat = _catalog(services)
    engine = CorrelationEngine(cat)
    engine.run(parsed.alerts)
    incidents = []
    for inc in sorted(engine.incidents.values(), key=lambda i: (i.opened_at, i.id)):
        s = summarise(inc, cat, engine=engine)
        incidents.append(
            CorrelatedIncident(
                id=s.id, status=s.status, severity=s.severity, title=s.title, services=s.services,
                opened_at=s.opened_at.isoformat(), resolved_at=s.resolved_at.isoformat() if s.resolved_at else None,
                alert_ids=s.alert_ids,
                probable_cause=s.causes[0].service if s.causes and not s.no_clear_cause else None,
                no_clear_cause=s.no_clear_cause,
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
                          f"(cause: {'no clear cause' if i.no_clear_cause else i.probable_cause or 'n/a'})")
    for e in parsed.errors:
        err.print(f"[yellow]line {e.line}:[/] {escape(e.error)}", highlight=False)
    if parsed.errors and not parsed.alerts:
        raise typer.Exit(1)


def ingest_alerts(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Alerts: JSON lines of generic alerts or Alertmanager/Grafana/PagerDuty/Opsgenie payloads.
    A line is one alert or one whole payload."""
    from bot.runtime import Runtime
    from tools.alerts.files import ingest_alert_file, read_alert_file
    from tools.alerts.pipeline import AlertPipeline
    from tools.settings import Settings

    require_file(file)
    parsed = read_alert_file(file)
    rt = Runtime.build(Settings())
    # payload by payload, as the webhooks do: lifecycle events attach to the stored alert
    result = None
    if parsed.alerts:
        with AlertPipeline(rt.store, rt.catalog) as pipeline:
            result = ingest_alert_file(pipeline, parsed, rt.settings)
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
                      f"{len(result.opened) if result else 0} incidents opened, "
                      f"{len(result.incidents) if result else 0} touched")
        for e in parsed.errors:
            err.print(f"[yellow]line {e.line}:[/] {escape(e.error)}", highlight=False)
    ingest_exit(len(parsed.alerts), len(parsed.errors))
