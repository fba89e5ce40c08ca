"""Drift benchmark: 1,000,000 reference rows and 1,000,000 current rows × 20 features
(14 numeric, 6 categorical), every test (KS, normed Wasserstein, PSI, Jensen–Shannon on
numeric; chi-square, homogeneity chi-square, Jensen–Shannon, PSI, Z where it applies on
categorical) against Evidently 0.7.23's DataDriftPreset on the same data in the same run.

    python bench/drift.py [--rows 1000000] [--evidently-python /tmp/evvenv/bin/python]

Evidently runs in its own virtual environment (see tests/fixtures/make_evidently_verdicts.py);
without one, only triops' figures are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.drift import DriftConfig, compute_drift

EVIDENTLY_NAMES = {
    "K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon", "PSI": "psi",
}


def make_data(rows: int, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Two samples with drift planted in some columns (mean, scale, tail, category mix, unseen)."""
    rng = np.random.default_rng(seed)
    numeric = [f"num_{i:02d}" for i in range(14)]
    categorical = [f"cat_{i}" for i in range(6)]

    def frame(current: bool) -> pd.DataFrame:
        d: dict[str, object] = {}
        for i, col in enumerate(numeric):
            kind = i % 4
            shift = current and i in (0, 5, 10)
            scale = current and i in (3, 7)
            if kind == 0:
                x = rng.normal(0.3 if shift else 0.0, 1.0, rows)
            elif kind == 1:
                x = rng.lognormal(0.0, 0.8, rows) * (1.3 if shift else 1.0)
            elif kind == 2:
                x = rng.uniform(0, 100, rows) + (8 if shift else 0)
            else:
                x = rng.gamma(2.0, 3.0, rows).round(1)  # many ties
            if scale:
                x = x.mean() + (x - x.mean()) * 1.5
            d[col] = x
        sizes = [3, 8, 12, 25, 2, 50]
        for i, col in enumerate(categorical):
            k = sizes[i]
            labels = np.array([f"{col}_v{j}" for j in range(k + 1)], dtype=object)
            p = np.linspace(1, 2, k)
            if current and i in (1, 3):
                p = p[::-1]
            p = p / p.sum()
            codes = rng.choice(k, rows, p=p)
            if current and i == 5:
                codes[rng.random(rows) < 0.02] = k  # an unseen category
            d[col] = labels[codes]
        return pd.DataFrame(d)

    return frame(False), frame(True), numeric, categorical


def time_triops(
    ref: pd.DataFrame, cur: pd.DataFrame, numeric: list[str], categorical: list[str], repeat: int
) -> tuple[list[float], list[float], object]:
    """Wall-clock and CPU seconds per run (CPU time shows what other load on the box hides)."""
    config = DriftConfig(numerical=numeric, categorical=categorical)
    walls, cpus = [], []
    report = None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        report = compute_drift(ref, cur, config)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, report


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--evidently-python", default=os.environ.get("EVIDENTLY_PYTHON", "/tmp/evvenv/bin/python"))
    args = ap.parse_args()

    ref, cur, numeric, categorical = make_data(args.rows)
    print(f"data: reference {len(ref):,} rows, current {len(cur):,} rows, "
          f"{len(numeric)} numeric + {len(categorical)} categorical features; cores: {os.cpu_count()}")
    load = os.getloadavg()[0]
    walls, cpus, report = time_triops(ref, cur, numeric, categorical, args.repeat)
    median = statistics.median(walls)
    print(f"load average before the runs: {load:.2f} on {os.cpu_count()} cores")
    print(f"triops compute_drift (all tests per feature): wall median {median:.2f} s, best {min(walls):.2f} s "
          f"over {args.repeat} runs ({', '.join(f'{t:.2f}' for t in walls)}); CPU median {statistics.median(cpus):.2f} s")
    ours = {f.column: f for f in report.features}  # type: ignore[union-attr]
    print(f"triops verdict: {report.n_drifted}/{report.n_features} features drifted, dataset drift {report.dataset_drift}")  # type: ignore[union-attr]

    py = Path(args.evidently_python)
    if not py.exists():
        print(f"Evidently: skipped (no interpreter at {py}; set --evidently-python)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        ref_p, cur_p = Path(tmp) / "ref.parquet", Path(tmp) / "cur.parquet"
        ref.to_parquet(ref_p)
        cur.to_parquet(cur_p)
        script = Path(__file__).with_name("drift_evidently.py")
        out = subprocess.run(
            [str(py), str(script), str(ref_p), str(cur_p), ",".join(numeric), ",".join(categorical)],
            capture_output=True, text=True, check=True,
        )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    agree = 0
    for col, t in theirs["columns"].items():
        method = EVIDENTLY_NAMES[t["method"]]
        mine = ours[col]
        same_method = mine.method == method
        score_close = abs(mine.score - t["score"]) <= 1e-6 * max(1.0, abs(t["score"]))
        agree += same_method and score_close
        if not (same_method and score_close):
            print(f"  differs: {col}: triops {mine.method} {mine.score:.6g} vs Evidently {method} {t['score']:.6g}")
    print(f"Evidently 0.7.23 DataDriftPreset: {theirs['seconds']:.2f} s (default test per feature only)")
    print(f"same method and score (1e-6) on {agree}/{len(theirs['columns'])} features")
    print(f"ratio (Evidently / triops wall median): {theirs['seconds'] / median:.1f}x; "
          f"vs triops best: {theirs['seconds'] / min(walls):.1f}x")


if __name__ == "__main__":
    main()
