"""Where drift data comes from: CSV or Parquet files, or feature windows logged in the store.

A store source is written `store:MODEL` (its reference window), `store:MODEL/LABEL`, or
`store:MODEL/latest` (the newest window that is not the reference).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Connection

from tools.errors import ToolError
from tools.store import models as reg

REFERENCE = "reference"
SUFFIXES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
MAX_FILE_BYTES = 2 * 1024**3


def load_file(path: str | Path) -> pd.DataFrame:
    p = Path(path).expanduser()
    kind = SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise ToolError(f"'{p.name}' is not a CSV or Parquet file.", hint="Give a .csv, .parquet or .pq file.")
    if not p.is_file():
        raise ToolError(f"No such file: {p}")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise ToolError(f"{p} is larger than 2 GB.", hint="Sample it first.")
    try:
        frame = pd.read_csv(p) if kind == "CSV" else pd.read_parquet(p)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ToolError(f"Could not read {p.name} as {kind}: {exc}") from exc
    if frame.empty:
        raise ToolError(f"{p.name} has no rows.")
    return frame


def parse_store_ref(text: str) -> tuple[str, str]:
    body = text.removeprefix("store:")
    model, _, label = body.partition("/")
    if not model:
        raise ToolError(f"'{text}' names no model.", hint="Write store:MODEL, store:MODEL/LABEL or store:MODEL/latest.")
    return model, label or REFERENCE


def resolve_label(conn: Connection, model: str, label: str) -> str:
    """`latest` -> the newest stored window that is not the reference."""
    windows = reg.window_labels(conn, model)
    if not windows:
        raise ToolError(f"No feature windows are stored for model '{model}'.",
                        hint="Log them with `triops ingest features MODEL LABEL FILE`.")
    labels = [w["label"] for w in windows]
    if label == "latest":
        recent = [w for w in labels if w != REFERENCE]
        if not recent:
            raise ToolError(f"Model '{model}' has only a reference window; there is nothing to compare.")
        return recent[0]
    if label not in labels:
        raise ToolError(f"Model '{model}' has no window '{label}'.", choices=labels)
    return label


def load_source(conn: Connection, source: str) -> tuple[pd.DataFrame, str]:
    """A data frame and the label to show for it."""
    if source.startswith("store:"):
        model, label = parse_store_ref(source)
        label = resolve_label(conn, model, label)
        frame = reg.load_window(conn, model, label)
        assert frame is not None
        return frame, f"{model}/{label}"
    return load_file(source), Path(source).name
