"""Scheduled model checks (the `triops serve` worker in bot/model_checks.py): which models are
due, a DB-claimed lease per model so replicas never check one twice, and the check itself —
drift recorded (explicitly: this is the scheduler, not a reader), performance estimated,
status assessed — on the newest window, once per window.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from tools.contract import ToolContext
from tools.errors import ToolError
from tools.mlops.data import REFERENCE
from tools.mlops.perf_models import PerformanceResult
from tools.mlops.status import ModelStatus
from tools.mlops.tool import DriftResult
from tools.settings import Settings
from tools.store import Store
from tools.store import models as reg

MLFLOW_SYNC = "__mlflow_sync__"  # the pseudo-model whose claim guards the registry sync


class CheckResult(BaseModel):
    model: str
    window: str | None = None
    new: bool = Field(False, description="a window not checked before: post or update the message")
    status: ModelStatus | None = None
    drift: DriftResult | None = None
    performance: PerformanceResult | None = None
    errors: list[str] = Field(default_factory=list)


def interval_for(settings: Settings, model: str) -> float:
    """Seconds between checks of `model` (0: never): TRIOPS_MODEL_CHECK_INTERVALS, else the default."""
    for item in Settings.csv(settings.model_check_intervals_csv):
        name, _, seconds = item.partition("=")
        if name.strip() == model:
            try:
                return max(0.0, float(seconds))
            except ValueError:
                raise ToolError(f"TRIOPS_MODEL_CHECK_INTERVALS: '{item}' is not name=seconds.") from None
    return settings.model_check_interval


def models(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return reg.model_names(conn)


def claim(store: Store, model: str, worker: str, now: float, lease: float) -> dict[str, Any] | None:
    with store.engine.begin() as conn:
        return reg.claim_check(conn, model, worker, now, lease)


def finish(store: Store, model: str, worker: str, **values: Any) -> None:
    with store.engine.begin() as conn:
        reg.finish_check(conn, model, worker, **values)


def newest_window(store: Store, model: str) -> str | None:
    with store.engine.connect() as conn:
        return next((w["label"] for w in reg.window_labels(conn, model) if w["label"] != REFERENCE), None)


def run_check(ctx: ToolContext, model: str, last_window: str | None) -> CheckResult:
    """Drift (recorded) and performance on the newest window, when it is new; the status."""
    from tools.mlops.tool import drift_report, model_performance, model_status

    window = newest_window(ctx.store, model)
    if window is None or window == last_window:
        return CheckResult(model=model, window=window)
    out = CheckResult(model=model, window=window, new=True)
    try:
        out.drift = drift_report.call(ctx, {"model": model, "current": f"store:{model}/{window}", "record": True})
    except ToolError as exc:
        out.errors.append(f"drift: {exc.message}")
    try:
        out.performance = model_performance.call(ctx, {"model": model, "window": window})
    except ToolError as exc:
        if "no predicted probabilities" not in exc.message:  # a model without probabilities: nothing to say
            out.errors.append(f"performance: {exc.message}")
    out.status = model_status.call(ctx, {"name": model})
    return out


def sync_mlflow(ctx: ToolContext) -> str:
    """One registry sync from MLFLOW_TRACKING_URI (the worker claims it first)."""
    from tools.mlops.mlflow_client import MlflowClient, sync

    s = ctx.settings
    assert s.mlflow_tracking_uri
    token = s.mlflow_tracking_token.get_secret_value() if s.mlflow_tracking_token else None
    with MlflowClient(s.mlflow_tracking_uri, token=token) as client:
        report = sync(ctx.store, client, ctx.now().timestamp())
    return f"synced {report.models} models, {report.versions} versions from {report.url}"
