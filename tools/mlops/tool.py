"""The MLOps tools: `model_status` and `drift_report` (pydantic in, pydantic out)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel
from sqlalchemy.engine import Connection

from tools.contract import ToolContext, tool
from tools.drift import DriftConfig, DriftInputError, DriftReport, compute_drift
from tools.errors import ToolError
from tools.mlops.data import REFERENCE, load_source, parse_store_ref
from tools.mlops.perf_models import PerformanceResult
from tools.mlops.queries import DriftQuery, ModelStatusQuery, PerformanceQuery
from tools.mlops.status import ModelStatus, StatusPolicy, assess
from tools.store import models as reg

LOCAL_FILES = "mlops.allow_local_files"  # a ToolContext resource the CLI sets to True

class DriftResult(BaseModel):
    model: str | None = None
    service: str | None = None
    reference: str
    current: str
    report: DriftReport
    report_id: int | None = None
    event_id: int | None = None


def known_models(ctx: ToolContext) -> list[str]:
    """Registered model names, for a person who did not name one."""
    with ctx.store.engine.connect() as conn:
        return reg.model_names(conn)


def _unknown_model(conn: Connection, name: str) -> ToolError:
    names = reg.model_names(conn)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"Did you mean {', '.join(close)}?" if close else ("Known models: " + ", ".join(names[:10]) if names else "No models are registered yet.")
    return ToolError(f"No model named '{name}'.", hint=hint, choices=close or names[:10])


@tool(
    "model_status",
    "Status of a registered ML model: the live version per alias (champion, challenger…) or "
    "legacy stage, its metrics against the previous version, age since training, the last "
    "drift check, and a recommendation (keep / investigate / retrain) with the reasons.",
)
def model_status(ctx: ToolContext, args: ModelStatusQuery) -> ModelStatus:
    from tools.mlops.performance import performance_brief

    with ctx.store.engine.connect() as conn:
        model = reg.get_model(conn, args.name)
        if model is None:
            raise _unknown_model(conn, args.name)
        alias_rows = reg.aliases(conn, args.name)
        performance = performance_brief(conn, args.name)
        runs = reg.retrain_runs_of(conn, args.name)
        return assess(
            model,
            reg.versions(conn, args.name),
            reg.metrics(conn, args.name),
            alias_rows,
            {a: reg.alias_history(conn, args.name, a) for a in alias_rows},
            reg.latest_drift_report(conn, args.name),
            ctx.now(),
            StatusPolicy(),
            performance=performance,
            runs=runs,
        )


@tool(
    "model_performance",
    "A classifier's accuracy, ROC AUC, F1, precision and recall (or a regressor's MAE and "
    "RMSE) on its newest logged window WITHOUT labels: confidence-based estimation calibrated "
    "on the labelled reference window (direct loss estimation for regressors), with a "
    "confidence band, the alert range from reference, and the realised value where delayed "
    "labels arrived. Read-only.",
)
def model_performance(ctx: ToolContext, args: PerformanceQuery) -> PerformanceResult:
    from tools.mlops.performance import estimate_model

    with ctx.store.engine.connect() as conn:
        if reg.get_model(conn, args.model) is None and not reg.window_labels(conn, args.model):
            raise _unknown_model(conn, args.model)
        return estimate_model(conn, args.model, window=args.window, reference=args.reference,
                              chunk_size=args.chunk_size, target=args.target, proba=args.proba,
                              prediction=args.prediction)


@tool(
    "drift_report",
    "Data and prediction drift between a reference and a current data set (a model's stored "
    "feature windows, or CSV/Parquet files): per feature the test Evidently would choose "
    "(KS, chi-square, Z, Wasserstein, Jensen–Shannon; PSI on request), score, threshold and "
    "verdict, worst first; missing values and unseen categories; dataset drift by share.",
)
def drift_report(ctx: ToolContext, args: DriftQuery) -> DriftResult:
    if args.model is None and (args.reference is None or args.current is None):
        raise ToolError("Give a model name, or both a reference and a current data set.")
    reference = args.reference or f"store:{args.model}/{REFERENCE}"
    current = args.current or f"store:{args.model}/latest"
    if args.model is None:
        # store:MODEL/… on both sides names the model: the same result as `drift MODEL`
        owners = {parse_store_ref(s)[0] for s in (reference, current) if s.startswith("store:")}
        if len(owners) == 1 and reference.startswith("store:") and current.startswith("store:"):
            args = args.model_copy(update={"model": owners.pop()})
    # Local files only from the CLI: Slack and the agent must not make the bot read paths.
    if not ctx.resource(LOCAL_FILES, lambda: False):
        for source in (reference, current):
            if not source.startswith("store:"):
                raise ToolError("Here drift compares logged feature windows only (store:MODEL/LABEL).",
                                hint="Files can be compared from the command line: triops drift REF CUR.")
    config = DriftConfig(
        drift_share=args.drift_share,
        numeric_method=args.method,
        categorical_method=args.method if args.method not in ("ks", "wasserstein") else None,
    )
    if args.threshold is not None:
        config = config.model_copy(update={"p_value_threshold": args.threshold, "distance_threshold": args.threshold, "psi_threshold": args.threshold})
    with ctx.store.engine.connect() as conn:
        if args.model is not None and reg.get_model(conn, args.model) is None and args.reference is None:
            raise _unknown_model(conn, args.model)
        ref_frame, ref_label = load_source(conn, reference)
        cur_frame, cur_label = load_source(conn, current)
        target = args.target
        if target is None and args.model is not None:
            row = reg.get_model(conn, args.model)
            column = row.get("prediction_column") if row else None
            target = column if column in ref_frame.columns and column in cur_frame.columns else None
    try:
        report = compute_drift(ref_frame, cur_frame, config, target=target)
    except DriftInputError as exc:
        raise ToolError(str(exc)) from exc
    service = version = None
    report_id = event_id = None
    with ctx.store.engine.begin() as conn:
        if args.model:
            row = reg.get_model(conn, args.model)
            service = row["service"] if row else None
            live = reg.aliases(conn, args.model).get("champion")
            version = live["version"] if live else None
        if args.record:
            report_id, event_id = reg.record_drift(
                conn, report, at=ctx.now().timestamp(), model=args.model, version=version,
                service=service, reference=ref_label, current=cur_label,
            )
    return DriftResult(
        model=args.model, service=service, reference=ref_label, current=cur_label,
        report=report, report_id=report_id, event_id=event_id,
    )
