"""Parallel chart rendering: replies render charts on worker threads at once (26 tracebacks
with pyplot's global state). Each chart now draws on its own Figure, no pyplot, serialised."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from bot.render.charts import drift_chart_png
from tools.drift import compute_drift


def _report(seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({f"f{i}": rng.normal(0, 1, 400) for i in range(6)})
    cur = pd.DataFrame({f"f{i}": rng.normal(0.3 * i, 1, 400) for i in range(6)})
    return compute_drift(ref, cur, workers=1)


def test_charts_render_in_parallel_without_errors_and_match_serial_output() -> None:
    reports = [_report(s) for s in range(4)]
    serial = [drift_chart_png(r, f"model {i}") for i, r in enumerate(reports)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(drift_chart_png, reports[i % 4], f"model {i % 4}") for i in range(16)]
        parallel = [f.result() for f in futures]  # any exception in a thread is raised here
    for i, png in enumerate(parallel):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert png == serial[i % 4], f"chart {i} differs from its serial rendering"


def test_rendering_does_not_touch_pyplot_global_state() -> None:
    code = ("import sys; import numpy as np, pandas as pd; from tools.drift import compute_drift; "
            "from bot.render.charts import drift_chart_png; "
            "r = compute_drift(pd.DataFrame({'a': np.arange(50.0)}), pd.DataFrame({'a': np.arange(50.0) + 9}), workers=1); "
            "drift_chart_png(r, 't'); print('matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
