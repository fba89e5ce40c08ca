"""`triops anomalies score FILE [--json]`: the streaming detector over a timestamp,value file.

One `{"timestamp", "score"}` JSON object per input row (score in [0, 1], from the past only):
the stable interface benchmarks and scripts use. Heavy imports stay inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli_common import console, usage_error

app = typer.Typer(help="Streaming anomaly scores of metric series.", no_args_is_help=True)


@app.command("score")
def score(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row (timestamp, score)")] = False,
) -> None:
    """Score every row of a CSV/Parquet file with columns timestamp,value (causal, one config)."""
    import json
    import sys

    from tools.errors import ToolError
    from tools.metrics.anomaly import Detector, epoch_seconds
    from tools.metrics.series import read_series_file

    try:
        timestamps, values = read_series_file(file)
    except ToolError as exc:
        usage_error(str(exc))
        return
    det = Detector()
    out = sys.stdout
    if as_json:
        for ts, v in zip(timestamps, values, strict=True):
            out.write(json.dumps({"timestamp": ts, "score": round(det.update(v, epoch_seconds(ts)), 6)}) + "\n")
        return
    top = sorted(((det.update(v, epoch_seconds(ts)), ts) for ts, v in zip(timestamps, values, strict=True)),
                 reverse=True)[:10]
    console.print(f"{len(values)} rows scored; highest anomaly scores:")
    for s, ts in top:
        console.print(f"  {ts}  {s:.3f}")
