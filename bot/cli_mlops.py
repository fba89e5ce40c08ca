"""`triops drift`, `triops model list|sync-mlflow`, `triops ingest models|features|labels`.

`triops model NAME` (also `model status NAME`) is generated from the model_status capability.
`drift` stays hand-written: it compares two files given as arguments and can write a chart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

import typer

from bot.cli_common import console, err_console, fail, print_ingest, require_file, show_result
from bot.cli_gen import CapabilityGroup
from tools.errors import ToolError

if TYPE_CHECKING:
    from bot.runtime import Runtime


class ModelGroup(CapabilityGroup):
    default_name: ClassVar[str | None] = "status"  # `triops model NAME` = `triops model status NAME`


app = typer.Typer(help="MLOps: model status, registry sync and drift.")
model_app = typer.Typer(help="Registered models: status (`model NAME`), list, sync from MLflow.",
                        no_args_is_help=True, cls=ModelGroup)
app.add_typer(model_app, name="model")


def _runtime() -> Runtime:
    from bot.runtime import Runtime
    from tools.mlops.tool import LOCAL_FILES
    from tools.settings import Settings

    rt = Runtime.build(Settings())
    rt.ctx.resource(LOCAL_FILES, lambda: True)  # the person at the terminal may name files
    return rt


def _show(tool: str, args: dict, as_json: bool, chart: Path | None = None) -> None:
    from bot.render.charts import images
    from bot.reply import Reply

    rt = _runtime()
    result = rt.run(tool, args, actor="cli")
    show_result(result, as_json)
    reply = Reply.of(result)
    if chart is not None:
        for _, png in images(reply):
            chart.write_bytes(png)
            err_console.print(f"chart written to {chart}")


@app.command()
def drift(
    reference: Annotated[str, typer.Argument(help="CSV/Parquet file, or store:MODEL (its reference window) or store:MODEL/LABEL")],
    current: Annotated[str, typer.Argument(help="CSV/Parquet file, or store:MODEL/LABEL or store:MODEL/latest")],
    target: Annotated[str | None, typer.Option(help="the model's output column (prediction drift)")] = None,
    model: Annotated[str | None, typer.Option(help="record the result against this model")] = None,
    method: Annotated[str | None, typer.Option(help="one test for all features: ks, wasserstein, psi, jensenshannon, chisquare, z")] = None,
    threshold: Annotated[float | None, typer.Option(help="one threshold for all features")] = None,
    drift_share: Annotated[float, typer.Option(help="dataset drift at this share of drifted features")] = 0.5,
    chart: Annotated[Path | None, typer.Option(help="write the drift chart (PNG) here")] = None,
    record: Annotated[bool, typer.Option(help="store the report (and a drift event when over threshold)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the tool's output as JSON")] = False,
) -> None:
    """Drift per feature (Evidently's default tests and thresholds), dataset and prediction drift."""
    from tools.drift.models import Method

    args: dict = {"reference": reference, "current": current, "target": target, "model": model,
                  "threshold": threshold, "drift_share": drift_share, "record": record}
    if method is not None:
        if method not in Method.__args__:  # type: ignore[attr-defined]
            fail(ToolError(f"Unknown test '{method}'.", choices=list(Method.__args__)))  # type: ignore[attr-defined]
        args["method"] = method
    _show("drift_report", args, as_json, chart)


@model_app.command("list")
def model_list() -> None:
    """Registered models and the service each serves."""
    from tools.mlops.ingest import model_rows

    for row in model_rows(_runtime().store):
        typer.echo(f"{row['name']}\t{row.get('service') or '-'}\t{row.get('source')}")


@model_app.command("sync-mlflow")
def sync_mlflow(
    url: Annotated[str | None, typer.Option(help="MLflow tracking URL (default MLFLOW_TRACKING_URI)")] = None,
    name: Annotated[list[str] | None, typer.Option(help="only these registered models")] = None,
) -> None:
    """Copy an MLflow tracking server's registry (aliases, stages, run metrics) into triops."""
    from tools.mlops.mlflow_client import MlflowClient, sync
    from tools.settings import Settings
    from tools.timeutil import now_utc

    settings = Settings()
    url = url or settings.mlflow_tracking_uri
    if not url or not url.startswith(("http://", "https://")):
        fail(ToolError("No MLflow server URL.", hint="Pass --url http://host:5000 or set MLFLOW_TRACKING_URI."))
        return
    token = settings.mlflow_tracking_token.get_secret_value() if settings.mlflow_tracking_token else None
    rt = _runtime()
    try:
        with MlflowClient(url, token=token) as client:
            report = sync(rt.store, client, now_utc().timestamp(), names=name or None)
    except ToolError as exc:
        fail(exc)
        return
    console.print(f"synced {report.models} models, {report.versions} versions ({report.runs_read} runs) from {report.url}")
    for s in report.skipped:
        err_console.print(f"[yellow]skipped[/] {s}")


def ingest_models(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Models: {name, service, team, prediction_column, versions: [{version, aliases, stage, metrics, trained_at, training_data, run_id}]} (or one flat version)."""
    from tools.mlops.ingest import ingest_models_file

    require_file(file)
    print_ingest(ingest_models_file(_runtime().store, file), "model versions", file, as_json)


def ingest_features(
    model: str,
    label: Annotated[str, typer.Argument(help="'reference' for the training window, else e.g. a date")],
    file: Path,
) -> None:
    """A window of logged model inputs (CSV/Parquet) for drift: store:MODEL/LABEL."""
    from tools.mlops.data import load_file
    from tools.mlops.ingest import store_window

    try:
        frame = load_file(file)
        store_window(_runtime().store, model, label, frame)
    except ToolError as exc:
        fail(exc)
        return
    console.print(f"stored {len(frame):,} rows × {frame.shape[1]} columns as store:{model}/{label}")


def ingest_labels(
    model: str,
    window: Annotated[str, typer.Argument(help="the window these labels belong to, e.g. 'reference' or a date")],
    file: Path,
) -> None:
    """Delayed labels (CSV/Parquet: a 'label' column, plus an 'id' shared with the window, else one per row)."""
    from tools.mlops.data import load_file
    from tools.mlops.ingest import store_labels

    try:
        frame = load_file(file)
        n = store_labels(_runtime().store, model, window, frame)
    except ToolError as exc:
        fail(exc)
        return
    console.print(f"stored {n:,} labels for store:{model}/{window}")
