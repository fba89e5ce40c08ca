"""Reading a series of `timestamp,value` rows from a CSV (or Parquet) file, with bad input named.

The detector tolerates gaps and NaN/Inf (they carry no evidence), so those are kept as NaN; a
file without the two columns, or a value that is not a number, is a ToolError with the row.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tools.errors import NoDataError, ToolError

MAX_ROWS = 5_000_000  # bounded memory: ~80 MB of floats at most


def read_series_file(path: Path) -> tuple[list[str], list[float]]:
    if not path.exists():
        raise ToolError(f"no such file: {path}")
    if path.suffix.lower() in {".parquet", ".pq"}:
        return _read_parquet(path)
    timestamps: list[str] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
        if "timestamp" not in cols or "value" not in cols:
            raise ToolError(f"{path.name}: needs columns timestamp,value (found {', '.join(cols) or 'none'})")
        tcol, vcol = cols["timestamp"], cols["value"]
        for lineno, row in enumerate(reader, start=2):
            if len(values) >= MAX_ROWS:
                raise ToolError(f"{path.name}: more than {MAX_ROWS:,} rows; split the file")
            timestamps.append((row.get(tcol) or "").strip())
            values.append(_number(row.get(vcol), path.name, lineno))
    if not values:
        raise NoDataError(f"{path.name}: no rows")
    return timestamps, values


def _number(text: str | None, name: str, lineno: int) -> float:
    raw = (text or "").strip()
    if raw == "" or raw.lower() in {"nan", "null", "none", "inf", "-inf", "+inf"}:
        return math.nan  # a gap: kept in place, scored 0
    try:
        value = float(raw)
    except ValueError:
        raise ToolError(f"{name} line {lineno}: value {raw[:40]!r} is not a number") from None
    return value if math.isfinite(value) else math.nan


def _read_parquet(path: Path) -> tuple[list[str], list[float]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["timestamp", "value"])
    except Exception as exc:  # pyarrow raises several types for a bad file or missing columns
        raise ToolError(f"{path.name}: cannot read timestamp,value from the Parquet file ({exc})") from None
    if table.num_rows == 0:
        raise NoDataError(f"{path.name}: no rows")
    if table.num_rows > MAX_ROWS:
        raise ToolError(f"{path.name}: more than {MAX_ROWS:,} rows; split the file")
    ts = [str(t) for t in table.column("timestamp").to_pylist()]
    vals = [float(v) if v is not None and math.isfinite(float(v)) else math.nan
            for v in table.column("value").to_pylist()]
    return ts, vals
