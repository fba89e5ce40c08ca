"""Model registry (models, versions, aliases and their history, legacy stages, metrics per
version), feature windows for drift, drift reports and the drift events that alert
correlation reads as probable causes. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
)
from sqlalchemy.engine import Connection

from tools.mlops.schemas import ModelIn
from tools.store.base import Epoch, metadata, upsert
from tools.timeutil import to_epoch

if TYPE_CHECKING:
    import pandas as pd

ml_models = Table(
    "ml_models",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("service", String(128), index=True),
    Column("team", String(128)),
    Column("description", Text),
    Column("source", String(32), nullable=False, default="local"),
    Column("prediction_column", String(200)),
    Column("updated_at", Epoch, nullable=False),
)

ml_model_versions = Table(
    "ml_model_versions",
    metadata,
    Column("model", String(200), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_num", Double),  # numeric order when the version is a number
    Column("stage", String(32)),
    Column("status", String(32)),
    Column("run_id", String(64)),
    Column("source", String(1000)),
    Column("training_data", String(1000)),
    Column("trained_at", Epoch),
    Column("registered_at", Epoch),
    Column("description", Text),
    PrimaryKeyConstraint("model", "version"),
)

ml_version_metrics = Table(
    "ml_version_metrics",
    metadata,
    Column("model", String(200), nullable=False),
    Column("version", String(64), nullable=False),
    Column("key", String(200), nullable=False),
    Column("value", Double, nullable=False),
    PrimaryKeyConstraint("model", "version", "key"),
)

ml_aliases = Table(
    "ml_aliases",
    metadata,
    Column("model", String(200), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("set_at", Epoch, nullable=False),
    PrimaryKeyConstraint("model", "alias"),
)

# Every alias move, so "the previous champion" is known even after the alias moved on.
ml_alias_history = Table(
    "ml_alias_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("version", String(64), nullable=False),
    Column("set_at", Epoch, nullable=False),
    Index("ix_ml_alias_history_model_alias", "model", "alias", "set_at"),
)

feature_windows = Table(
    "feature_windows",
    metadata,
    Column("model", String(200), nullable=False),
    Column("label", String(64), nullable=False),  # "reference", "2026-11-20", "last-24h"…
    Column("start", Epoch),
    Column("end", Epoch),
    Column("rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # Parquet bytes
    Column("stored_at", Epoch, nullable=False),
    PrimaryKeyConstraint("model", "label"),
)

drift_reports = Table(
    "drift_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), index=True),
    Column("version", String(64)),
    Column("computed_at", Epoch, nullable=False, index=True),
    Column("reference", String(300)),
    Column("current", String(300)),
    Column("n_features", Integer, nullable=False),
    Column("n_drifted", Integer, nullable=False),
    Column("share_drifted", Double, nullable=False),
    Column("dataset_drift", Boolean, nullable=False),
    Column("prediction_drifted", Boolean),
    Column("report", Text, nullable=False),  # DriftReport JSON
)

drift_events = Table(
    "drift_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(200), nullable=False),
    Column("service", String(128), index=True),
    Column("at", Epoch, nullable=False, index=True),
    Column("features", Text, nullable=False),  # JSON list, worst first
    Column("method", String(32)),
    Column("score", Double),  # the worst feature's score under its method
    Column("severity", Double),  # how far past its threshold (> 1)
    Column("share_drifted", Double, nullable=False),
    Column("dataset_drift", Boolean, nullable=False),
    Column("prediction_drifted", Boolean),
    Column("report_id", Integer),
)


def _version_num(version: str) -> float | None:
    try:
        return float(version)
    except ValueError:
        return None


def upsert_models(conn: Connection, models: Sequence[ModelIn], now: float) -> int:
    """Store models, versions, metrics and aliases; returns how many versions were written.

    A model's service/team/description are kept when a later event leaves them out.
    """
    written = 0
    for m in models:
        current = conn.execute(select(ml_models).where(ml_models.c.name == m.name)).mappings().first()
        keep = dict(current) if current else {}
        upsert(
            conn,
            ml_models,
            [{
                "name": m.name,
                "service": m.service or keep.get("service"),
                "team": m.team or keep.get("team"),
                "description": m.description or keep.get("description"),
                "source": m.source,
                "prediction_column": m.prediction_column or keep.get("prediction_column"),
                "updated_at": now,
            }],
            ["name"],
        )
        for v in m.versions:
            upsert(
                conn,
                ml_model_versions,
                [{
                    "model": m.name,
                    "version": v.version,
                    "version_num": _version_num(v.version),
                    "stage": v.stage,
                    "status": v.status,
                    "run_id": v.run_id,
                    "source": v.source,
                    "training_data": v.training_data,
                    "trained_at": to_epoch(v.trained_at),
                    "registered_at": to_epoch(v.registered_at),
                    "description": v.description,
                }],
                ["model", "version"],
            )
            if v.metrics:
                upsert(
                    conn,
                    ml_version_metrics,
                    [{"model": m.name, "version": v.version, "key": k, "value": float(val)} for k, val in v.metrics.items()],
                    ["model", "version", "key"],
                )
            for alias in v.aliases:
                set_alias(conn, m.name, alias, v.version, now)
            written += 1
    return written


def set_alias(conn: Connection, model: str, alias: str, version: str, at: float) -> None:
    """Point `alias` at `version`; the move is remembered only when the target changes."""
    old = conn.execute(
        select(ml_aliases.c.version).where(ml_aliases.c.model == model, ml_aliases.c.alias == alias)
    ).scalar()
    if old == version:
        return
    upsert(conn, ml_aliases, [{"model": model, "alias": alias, "version": version, "set_at": at}], ["model", "alias"])
    conn.execute(insert(ml_alias_history).values(model=model, alias=alias, version=version, set_at=at))


def remove_aliases_not_in(conn: Connection, model: str, keep: dict[str, str]) -> None:
    """After a full sync: aliases the source no longer has are dropped (history stays)."""
    rows = conn.execute(select(ml_aliases.c.alias).where(ml_aliases.c.model == model)).scalars().all()
    gone = [a for a in rows if a not in keep]
    if gone:
        conn.execute(delete(ml_aliases).where(ml_aliases.c.model == model, ml_aliases.c.alias.in_(gone)))


def get_model(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(ml_models).where(ml_models.c.name == name)).mappings().first()
    return dict(row) if row else None


def model_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(ml_models.c.name).order_by(ml_models.c.name)).scalars())


def versions(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Versions of a model, oldest first (numeric order when versions are numbers)."""
    rows = [dict(r) for r in conn.execute(select(ml_model_versions).where(ml_model_versions.c.model == name)).mappings()]
    rows.sort(key=lambda r: (r["version_num"] is None, r["version_num"] or 0, r["registered_at"] or 0, r["version"]))
    return rows


def metrics(conn: Connection, name: str) -> dict[str, dict[str, float]]:
    """{version: {metric: value}}."""
    out: dict[str, dict[str, float]] = {}
    q = select(ml_version_metrics).where(ml_version_metrics.c.model == name)
    for r in conn.execute(q).mappings():
        out.setdefault(r["version"], {})[r["key"]] = r["value"]
    return out


def aliases(conn: Connection, name: str) -> dict[str, dict[str, Any]]:
    q = select(ml_aliases).where(ml_aliases.c.model == name).order_by(ml_aliases.c.alias)
    return {r["alias"]: dict(r) for r in conn.execute(q).mappings()}


def alias_history(conn: Connection, name: str, alias: str) -> list[dict[str, Any]]:
    """Versions `alias` pointed at, newest first."""
    q = (
        select(ml_alias_history)
        .where(ml_alias_history.c.model == name, ml_alias_history.c.alias == alias)
        .order_by(ml_alias_history.c.set_at.desc(), ml_alias_history.c.id.desc())
    )
    return [dict(r) for r in conn.execute(q).mappings()]


# ---- feature windows -------------------------------------------------------------------


def save_window(
    conn: Connection, model: str, label: str, frame: pd.DataFrame, now: float,
    start: float | None = None, end: float | None = None,
) -> None:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    upsert(
        conn,
        feature_windows,
        [{"model": model, "label": label, "start": start, "end": end, "rows": len(frame), "data": buf.getvalue(), "stored_at": now}],
        ["model", "label"],
    )


def window_labels(conn: Connection, model: str) -> list[dict[str, Any]]:
    """Stored windows of a model (without data), newest first."""
    cols = [c for c in feature_windows.c if c.name != "data"]
    q = select(*cols).where(feature_windows.c.model == model).order_by(
        feature_windows.c.end.desc().nulls_last(), feature_windows.c.stored_at.desc()
    )
    return [dict(r) for r in conn.execute(q).mappings()]


def load_window(conn: Connection, model: str, label: str) -> pd.DataFrame | None:
    data = conn.execute(
        select(feature_windows.c.data).where(feature_windows.c.model == model, feature_windows.c.label == label)
    ).scalar()
    if data is None:
        return None
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


# ---- drift reports and events ---------------------------------------------------------


def record_drift(
    conn: Connection,
    report: Any,  # tools.drift.DriftReport
    *,
    at: float,
    model: str | None = None,
    version: str | None = None,
    service: str | None = None,
    reference: str | None = None,
    current: str | None = None,
) -> tuple[int, int | None]:
    """Store a drift report; when any feature or the prediction is over its threshold, also
    a drift event. Returns (report id, event id or None). Checking the same data again
    returns the ids already stored instead of a duplicate event."""
    prediction_drifted = report.prediction.drifted if report.prediction is not None else None
    body = report.model_dump_json()
    same = conn.execute(
        select(drift_reports.c.id, drift_reports.c.report)
        .where(drift_reports.c.model.is_(None) if model is None else drift_reports.c.model == model,
               drift_reports.c.reference == reference, drift_reports.c.current == current)
        .order_by(drift_reports.c.id.desc()).limit(1)
    ).first()
    if same is not None and same.report == body:
        # The same windows checked again (a second /triops drift): one report, one event.
        event = conn.execute(select(drift_events.c.id).where(drift_events.c.report_id == same.id)).scalar()
        return int(same.id), None if event is None else int(event)
    report_id = conn.execute(
        insert(drift_reports).values(
            model=model, version=version, computed_at=at, reference=reference, current=current,
            n_features=report.n_features, n_drifted=report.n_drifted, share_drifted=report.share_drifted,
            dataset_drift=report.dataset_drift, prediction_drifted=prediction_drifted,
            report=body,
        ).returning(drift_reports.c.id)
    ).scalar_one()
    drifted = report.drifted_features()
    if not drifted and not prediction_drifted:
        return int(report_id), None
    if model is not None and service is None:
        row = get_model(conn, model)
        service = row["service"] if row else None
    worst = drifted[0] if drifted else report.prediction
    names = [f.column for f in drifted] + ([report.prediction.column] if prediction_drifted else [])
    event_id = conn.execute(
        insert(drift_events).values(
            model=model or "(unnamed)", service=service, at=at, features=json.dumps(names),
            method=worst.method, score=worst.score, severity=worst.severity,
            share_drifted=report.share_drifted, dataset_drift=report.dataset_drift,
            prediction_drifted=prediction_drifted, report_id=report_id,
        ).returning(drift_events.c.id)
    ).scalar_one()
    return int(report_id), int(event_id)


def latest_drift_report(conn: Connection, model: str) -> dict[str, Any] | None:
    q = select(drift_reports).where(drift_reports.c.model == model).order_by(
        drift_reports.c.computed_at.desc(), drift_reports.c.id.desc()
    ).limit(1)
    row = conn.execute(q).mappings().first()
    return dict(row) if row else None


def recent_drift_events(
    conn: Connection, start: float, end: float, services: Sequence[str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Drift events in [start, end), newest first: a probable cause for alerts on `services`.

    Each: {id, model, service, at, features (list, worst first), method, score, severity,
    share_drifted, dataset_drift, prediction_drifted, report_id}.
    """
    cond = [and_(drift_events.c.at >= start, drift_events.c.at < end)]
    if services is not None:
        cond.append(drift_events.c.service.in_(list(services)))
    q = select(drift_events).where(*cond).order_by(drift_events.c.at.desc(), drift_events.c.id.desc()).limit(limit)
    return [{**dict(r), "features": json.loads(r["features"])} for r in conn.execute(q).mappings()]


# ---- delayed labels ------------------------------------------------------------------------

# Ground truth that arrives after the predictions: one frame per (model, window label), joined
# to the window's rows by a shared id column or, without one, by position.
label_windows = Table(
    "label_windows",
    metadata,
    Column("model", String(200), nullable=False),
    Column("label", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # Parquet bytes
    Column("stored_at", Epoch, nullable=False),
    PrimaryKeyConstraint("model", "label"),
)


def save_labels(conn: Connection, model: str, label: str, frame: pd.DataFrame, now: float) -> None:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    upsert(conn, label_windows,
           [{"model": model, "label": label, "rows": len(frame), "data": buf.getvalue(), "stored_at": now}],
           ["model", "label"])


def labels_stored_at(conn: Connection, model: str) -> dict[str, float]:
    """When each window's delayed labels last arrived (window label -> stored_at)."""
    q = select(label_windows.c.label, label_windows.c.stored_at).where(label_windows.c.model == model)
    return {r.label: float(r.stored_at) for r in conn.execute(q)}


def load_labels(conn: Connection, model: str, label: str) -> pd.DataFrame | None:
    data = conn.execute(
        select(label_windows.c.data).where(label_windows.c.model == model, label_windows.c.label == label)
    ).scalar()
    if data is None:
        return None
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


# ---- retraining runs -----------------------------------------------------------------------

retrain_runs = Table(
    "retrain_runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("model", String(200), nullable=False, index=True),
    Column("version", String(64)),  # the version being replaced
    Column("pipeline", String(16), nullable=False),  # github | airflow | webhook
    Column("external_ref", String(300)),  # the dag_run_id / workflow run / webhook answer
    Column("reason", Text),
    Column("requested_by", String(128)),
    Column("status", String(16), nullable=False),  # requested | started | succeeded | failed
    Column("requested_at", Epoch, nullable=False),
    Column("started_at", Epoch),
    Column("finished_at", Epoch),
    Column("new_version", String(64)),
    Column("detail", Text),
)

_RUN_ORDER = {"requested": 0, "started": 1, "succeeded": 2, "failed": 2}


def add_retrain_run(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(retrain_runs).values(**row))


def claim_retrain_run(conn: Connection, row: dict[str, Any]) -> bool:
    """Record the run unless one with its id exists: True when this call recorded it. One
    INSERT … ON CONFLICT DO NOTHING decides, so two executors of one request never both win."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    ins = sqlite_insert(retrain_runs) if conn.dialect.name == "sqlite" else pg_insert(retrain_runs)
    stmt = ins.values(**row).on_conflict_do_nothing(index_elements=["id"]).returning(retrain_runs.c.id)
    return conn.execute(stmt).first() is not None  # (rowcount is not reliable here on psycopg)


def drop_retrain_run(conn: Connection, run_id: str) -> None:
    """Forget a run whose dispatch failed: nothing started, so it is not a retrain."""
    from sqlalchemy import delete

    conn.execute(delete(retrain_runs).where(retrain_runs.c.id == run_id))


def set_retrain_ref(conn: Connection, run_id: str, external_ref: str | None) -> None:
    from sqlalchemy import update

    conn.execute(update(retrain_runs).where(retrain_runs.c.id == run_id).values(external_ref=external_ref))


def update_retrain_run(conn: Connection, run_id: str, model: str, *, status: str, at: float,
                       new_version: str | None = None, detail: str | None = None,
                       external_ref: str | None = None) -> dict[str, Any] | None:
    """A pipeline's callback: move the run forward (never back: a late 'started' after
    'succeeded' changes nothing); returns the run, or None when there is no such run.

    A compare-and-set on the status read: two callbacks at once (a retried 'started' racing
    'succeeded') cannot both win, whichever replica or connection serves them."""
    from sqlalchemy import update

    while True:
        row = conn.execute(select(retrain_runs).where(retrain_runs.c.id == run_id, retrain_runs.c.model == model)).mappings().first()
        if row is None:
            return None
        if _RUN_ORDER[status] < _RUN_ORDER[row["status"]] or row["status"] in ("succeeded", "failed"):
            return dict(row)
        values: dict[str, Any] = {"status": status}
        if status == "started":
            values["started_at"] = at
        else:
            values["finished_at"] = at
            values["started_at"] = row["started_at"] or at
        for key, val in (("new_version", new_version), ("detail", detail), ("external_ref", external_ref)):
            if val is not None:
                values[key] = val
        moved = conn.execute(update(retrain_runs).where(retrain_runs.c.id == run_id,
                                                        retrain_runs.c.status == row["status"]).values(**values))
        if moved.rowcount == 1:
            return {**dict(row), **values}


def retrain_runs_of(conn: Connection, model: str, limit: int = 200) -> list[dict[str, Any]]:
    q = select(retrain_runs).where(retrain_runs.c.model == model).order_by(retrain_runs.c.requested_at.desc()).limit(limit)
    return [dict(r) for r in conn.execute(q).mappings()]


# ---- scheduled model checks -------------------------------------------------------------------

# One row per model: when its next check is due, which replica holds it (a lease, so a
# replica that died mid-check frees it), the last window checked and the Slack message the
# results live in (posted once, then updated in place).
model_checks = Table(
    "model_checks",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("due_at", Epoch, nullable=False),
    Column("claimed_by", String(64)),
    Column("claimed_until", Epoch),
    Column("last_window", String(64)),
    Column("last_checked_at", Epoch),
    Column("channel", String(64)),
    Column("message_ts", String(64)),
)


def claim_check(conn: Connection, model: str, worker: str, now: float, lease: float) -> dict[str, Any] | None:
    """Take the model's due check for `lease` seconds; None when it is not due or another
    replica holds it. One UPDATE … WHERE decides, so two replicas never both win."""
    from sqlalchemy import or_, update

    upsert(conn, model_checks, [{"model": model, "due_at": now}], ["model"], update=False)
    won = conn.execute(
        update(model_checks)
        .where(model_checks.c.model == model, model_checks.c.due_at <= now,
               or_(model_checks.c.claimed_until.is_(None), model_checks.c.claimed_until < now))
        .values(claimed_by=worker, claimed_until=now + lease)
    ).rowcount
    if won != 1:
        return None
    row = conn.execute(select(model_checks).where(model_checks.c.model == model)).mappings().first()
    return dict(row) if row else None


def finish_check(conn: Connection, model: str, worker: str, *, next_due: float, window: str | None = None,
                 checked_at: float | None = None, channel: str | None = None, message_ts: str | None = None) -> None:
    from sqlalchemy import update

    values: dict[str, Any] = {"due_at": next_due, "claimed_by": None, "claimed_until": None}
    for key, val in (("last_window", window), ("last_checked_at", checked_at), ("channel", channel), ("message_ts", message_ts)):
        if val is not None:
            values[key] = val
    conn.execute(update(model_checks).where(model_checks.c.model == model, model_checks.c.claimed_by == worker).values(**values))
