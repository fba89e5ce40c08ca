"""Registry events from a file (JSON array, JSON lines or one JSON object) into the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tools.delivery.ingest import IngestReport, LineError, describe_validation_error, iter_records
from tools.mlops.schemas import ModelIn
from tools.store.models import upsert_models
from tools.timeutil import now_utc


def parse_models(text: str, suffix: str = ".json") -> tuple[list[ModelIn], list[LineError]]:
    models: list[ModelIn] = []
    errors: list[LineError] = []
    stripped = text.strip()
    if stripped.startswith("{") and "\n{" not in stripped:
        try:
            records: Any = [(1, json.loads(stripped))]
        except json.JSONDecodeError as exc:
            return [], [LineError(line=exc.lineno, error=f"invalid JSON: {exc.msg}")]
    else:
        records = iter_records(text, suffix)
    for line, rec in records:
        if isinstance(rec, str):
            errors.append(LineError(line=line, error=rec))
            continue
        try:
            models.append(ModelIn.model_validate(rec))
        except ValidationError as exc:
            errors.append(LineError(line=line, error=describe_validation_error(exc)))
    return models, errors


def ingest_models_file(store: Any, path: Path) -> IngestReport:
    models, errors = parse_models(path.read_text(encoding="utf-8"), path.suffix.lower())
    with store.engine.begin() as conn:
        written = upsert_models(conn, models, now_utc().timestamp())
    return IngestReport(kind="model versions", loaded=written, errors=errors)
