"""Registry events from a file (JSON array, JSON lines or one JSON object) into the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.alerts.models import ChangeEvent
from tools.delivery.ingest import IngestReport, LineError, parse_text
from tools.mlops.schemas import ModelIn, RegistryEvent
from tools.store.models import save_window, upsert_models
from tools.timeutil import from_epoch, now_utc

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy.engine import Connection

    from tools.store import Store


def parse_models(text: str, suffix: str = ".json") -> tuple[list[ModelIn], list[LineError]]:
    return parse_text(text, suffix, ModelIn)


def ingest_models_file(store: Store, path: Path) -> IngestReport:
    models, errors = parse_models(path.read_text(encoding="utf-8"), path.suffix.lower())
    with store.engine.begin() as conn:
        written = upsert_models(conn, models, now_utc().timestamp())
    return IngestReport(kind="model versions", loaded=written, errors=errors)


def store_models(store: Store, models: Sequence[ModelIn]) -> int:
    """Upsert validated registry events in one transaction; returns the versions written.
    Blocking: an async caller runs it in a worker thread."""
    with store.engine.begin() as conn:
        return upsert_models(conn, models, now_utc().timestamp())


def store_window(
    store: Store, model: str, label: str, frame: pd.DataFrame, *, start: float | None = None, end: float | None = None
) -> int:
    """Save a window of logged model inputs (up to hundreds of thousands of rows) for drift;
    returns its row count. Blocking and heavy: never call it on an event loop. A column that
    mixes kinds (numbers and text, true/false and numbers) is a ToolError naming it."""
    frame = frame.assign(**{str(c): uniform_column(frame, c) for c in frame.columns if frame[c].dtype == object})
    with store.engine.begin() as conn:
        save_window(conn, model, label, frame, now_utc().timestamp(), start=start, end=end)
    return len(frame)


def store_labels(store: Store, model: str, label: str, frame: pd.DataFrame) -> int:
    """Save delayed labels for a stored window (joined to its rows by an id column, else by
    position); returns the labelled rows. Checked against the window before anything is kept."""
    from tools.errors import ToolError
    from tools.mlops.performance import ID_KEYS, TARGETS, join_labels
    from tools.store.models import load_window, save_labels, window_labels

    cols = [str(c) for c in frame.columns]
    target = next((c for c in cols if c.lower() in TARGETS), None)
    rest = [c for c in cols if c.lower() not in ID_KEYS]
    if target is None and len(rest) == 1:
        target = rest[0]
    if target is None:
        raise ToolError(f"The labels have no label column (got {', '.join(cols[:8])}).",
                        hint="Name it 'label' or 'target' (plus an 'id' column shared with the window).")
    with store.engine.begin() as conn:
        if label not in {w["label"] for w in window_labels(conn, model)}:
            raise ToolError(f"Model '{model}' has no window '{label}' to label.",
                            hint=f"Log the window first: triops ingest features {model} {label} FILE.")
        window = load_window(conn, model, label)
        assert window is not None
        frame = frame.assign(**{c: uniform_column(frame, c) for c in cols if c == target or c in ID_KEYS})
        key, _ = join_labels(window, frame, target, f"{model}/{label}")
        kept = frame[[c for c in (key, target) if c is not None]]
        save_labels(conn, model, label, kept.rename(columns={target: "label"}) if target != "label" else kept,
                    now_utc().timestamp())
    return int(frame[target].notna().sum())


def uniform_column(frame: pd.DataFrame, col: str) -> pd.Series:
    """`frame[col]` as the columnar store can hold it: all numbers, all text or all true/false.
    JSON rows and CSV cells can both put text next to numbers ("a" after 1), JSON true next to
    0.2: a ToolError naming the first such row, where pyarrow would raise mid-write. Numbers
    written as text become numbers."""
    from numbers import Number

    import pandas as pd

    from tools.errors import ToolError

    s = frame[col]
    if s.dtype != object:
        return s
    present = s.dropna()
    if not present.map(lambda v: isinstance(v, str | Number)).all():
        pos, v = next((i, v) for i, v in enumerate(s) if v is not None and not isinstance(v, str | Number))
        raise ToolError(f"Row {pos}, column '{col}': {type(v).__name__} is not a number or text.")
    flags = present.map(lambda v: isinstance(v, bool))
    if flags.all():
        return s
    if flags.any():
        i = next(i for i, f in enumerate(flags) if f != flags.iloc[0])
        raise ToolError(f"Column '{col}' mixes true/false with numbers or text (row {s.index.get_loc(present.index[i])}: "
                        f"{present.iloc[i]!r} after {present.iloc[0]!r}).",
                        hint="A column holds one kind of value: numbers, text, or true/false.")
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():
        return pd.to_numeric(s)
    if numbers.isna().all():
        return s  # text, e.g. class names
    first = numbers.notna().iloc[0]
    pos = next(i for i, ok in enumerate(numbers.notna()) if ok != first)
    raise ToolError(f"Column '{col}' mixes numbers and text (row {s.index.get_loc(present.index[pos])}: "
                    f"{present.iloc[pos]!r} after {present.iloc[0]!r}).",
                    hint="A column holds one kind of value: all numbers or all text.")


def update_retrain(store: Store, model: str, run_id: str, status: str, at: float, new_version: str | None = None,
                   detail: str | None = None, external_ref: str | None = None) -> dict[str, Any] | None:
    """A retraining pipeline's report on a run; None when the run is unknown."""
    from tools.store.models import update_retrain_run

    with store.engine.begin() as conn:
        return update_retrain_run(conn, run_id, model, status=status, at=at, new_version=new_version,
                                  detail=detail, external_ref=external_ref)


def model_rows(store: Store) -> list[dict[str, Any]]:
    """Every registered model's row (name, service, source…), by name."""
    from tools.store.models import get_model, model_names

    with store.engine.connect() as conn:
        return [{"name": n, **(get_model(conn, n) or {})} for n in model_names(conn)]


def apply_registry_events(store: Store, events: Sequence[RegistryEvent]) -> list[ChangeEvent]:
    """Move or drop aliases; each move that changed the target is a promotion (to a newer
    version) or a rollback (to an older one), returned as a change event for probable cause.
    A replay changes nothing and returns nothing. The move is also in the alias history."""
    from tools.store.models import aliases, get_model, remove_aliases_not_in, set_alias

    out: list[ChangeEvent] = []
    now = now_utc()
    with store.engine.begin() as conn:
        for e in events:
            current = aliases(conn, e.model)
            if e.action == "delete":
                if e.alias in current and e.version in (None, str(current[e.alias].get("version"))):
                    keep = {a: str(r.get("version")) for a, r in current.items() if a != e.alias}
                    remove_aliases_not_in(conn, e.model, keep)
                continue
            old = str(current[e.alias]["version"]) if e.alias in current else None
            if e.version is None or old == e.version:
                continue
            at = e.at or now
            set_alias(conn, e.model, e.alias, e.version, at.timestamp())
            kind = "model_rollback" if old is not None and _num(e.version) < _num(old) else "model_promotion"
            service = (get_model(conn, e.model) or {}).get("service") or e.model
            out.append(ChangeEvent(
                kind=kind, id=f"mlflow-{e.model}-{e.alias}-{e.version}", service=str(service), at=at,
                summary=f"model {e.model}: alias {e.alias} {old or 'new'} -> {e.version}", status=kind.split("_")[1]))
    return out


def _num(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return 0.0


def model_alias_changes(conn: Connection, services: Sequence[str], start: float, end: float) -> list[ChangeEvent]:
    """A change provider (tools.alerts.changes signature): alias moves of the models serving
    `services` (a model without a service stands for itself) in [start, end), as the
    promotion/rollback change events `apply_registry_events` answers with."""
    from sqlalchemy import and_, or_, select

    from tools.store.models import ml_alias_history as h
    from tools.store.models import ml_models as m

    wanted = list(services)
    rows = conn.execute(
        select(h.c.id, h.c.model, h.c.alias, h.c.version, h.c.set_at, m.c.service)
        .select_from(h.outerjoin(m, m.c.name == h.c.model))
        .where(and_(h.c.set_at >= start, h.c.set_at < end),
               or_(m.c.service.in_(wanted), and_(m.c.service.is_(None), h.c.model.in_(wanted))))
        .order_by(h.c.set_at, h.c.id)
    ).mappings().all()
    out = []
    for r in rows:
        prev = conn.execute(
            select(h.c.version).where(h.c.model == r["model"], h.c.alias == r["alias"],
                                      or_(h.c.set_at < r["set_at"], and_(h.c.set_at == r["set_at"], h.c.id < r["id"])))
            .order_by(h.c.set_at.desc(), h.c.id.desc()).limit(1)
        ).scalar()
        kind = "model_rollback" if prev is not None and _num(r["version"]) < _num(str(prev)) else "model_promotion"
        out.append(ChangeEvent(
            kind=kind, id=f"mlflow-{r['model']}-{r['alias']}-{r['version']}", service=str(r["service"] or r["model"]),
            at=from_epoch(r["set_at"]), summary=f"model {r['model']}: alias {r['alias']} {prev or 'new'} -> {r['version']}",
            status=kind.split("_")[1]))
    return out
