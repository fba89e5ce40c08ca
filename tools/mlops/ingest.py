"""Registry events from a file (JSON array, JSON lines or one JSON object) into the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.delivery.ingest import IngestReport, LineError, parse_text
from tools.mlops.schemas import ModelIn
from tools.store.models import save_window, upsert_models
from tools.timeutil import now_utc

if TYPE_CHECKING:
    import pandas as pd

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
    returns its row count. Blocking and heavy: never call it on an event loop."""
    with store.engine.begin() as conn:
        save_window(conn, model, label, frame, now_utc().timestamp(), start=start, end=end)
    return len(frame)


def model_rows(store: Store) -> list[dict[str, Any]]:
    """Every registered model's row (name, service, source…), by name."""
    from tools.store.models import get_model, model_names

    with store.engine.connect() as conn:
        return [{"name": n, **(get_model(conn, n) or {})} for n in model_names(conn)]
