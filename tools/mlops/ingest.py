"""Registry events from a file (JSON array, JSON lines or one JSON object) into the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tools.delivery.ingest import IngestReport, LineError, parse_text
from tools.mlops.schemas import ModelIn
from tools.store.models import upsert_models
from tools.timeutil import now_utc

if TYPE_CHECKING:
    from tools.store import Store


def parse_models(text: str, suffix: str = ".json") -> tuple[list[ModelIn], list[LineError]]:
    return parse_text(text, suffix, ModelIn)


def ingest_models_file(store: Store, path: Path) -> IngestReport:
    models, errors = parse_models(path.read_text(encoding="utf-8"), path.suffix.lower())
    with store.engine.begin() as conn:
        written = upsert_models(conn, models, now_utc().timestamp())
    return IngestReport(kind="model versions", loaded=written, errors=errors)
