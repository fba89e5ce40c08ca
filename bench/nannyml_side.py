"""NannyML's side of bench/nannyml.py; runs in NannyML's own venv (no triops dependency, no
triops import). Usage analytics are switched off (NML_DISABLE_USAGE_LOGGING) before import.

  PY bench/nannyml_side.py export OUT_DIR
      NannyML's bundled data sets (from the files inside its installed wheel, via its own
      loaders) -> OUT_DIR/<name>/{reference,analysis,targets}.parquet + meta.json
  PY bench/nannyml_side.py estimate OUT_DIR NAME
      CBPE or DLE on that data set; prints one JSON line: seconds (fit + estimate), peak RSS
      growth during them, and per analysis chunk the estimate, band, thresholds and alert.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
# this directory holds bench/nannyml.py, which would shadow the real package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

# name: (loader, task, target, proba (str | {class: column}), prediction, chunk size, features for DLE)
DATASETS: dict[str, dict] = {
    "synthetic_car_loan": {"loader": "load_synthetic_car_loan_dataset", "task": "binary", "target": "repaid",
                           "proba": "y_pred_proba", "prediction": "y_pred", "chunk": 5000},
    "synthetic_binary": {"loader": "load_synthetic_binary_classification_dataset", "task": "binary",
                         "target": "work_home_actual", "proba": "y_pred_proba", "prediction": "y_pred", "chunk": 5000},
    "synthetic_multiclass": {"loader": "load_synthetic_multiclass_classification_dataset", "task": "multiclass",
                             "target": "y_true", "prediction": "y_pred", "chunk": 6000,
                             "proba": {c: f"y_pred_proba_{c}" for c in ("prepaid_card", "highstreet_card", "upmarket_card")}},
    "synthetic_car_price": {"loader": "load_synthetic_car_price_dataset", "task": "regression", "target": "y_true",
                            "prediction": "y_pred", "chunk": 6000,
                            "features": ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel", "transmission"]},
    "us_census_ma_employment": {"loader": "load_us_census_ma_employment_data", "task": "binary", "target": "employed",
                                "proba": "predicted_probability", "prediction": "prediction", "chunk": 20000},
    "california_housing": {"loader": "load_modified_california_housing_dataset", "task": "binary", "target": "clf_target",
                           "proba": "y_pred_proba", "prediction": "y_pred", "chunk": 1000},
}
BINARY_METRICS = ["accuracy", "roc_auc", "f1", "precision", "recall"]
REGRESSION_METRICS = ["mae", "rmse"]


def rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def export(out: Path) -> None:
    import nannyml as nml

    for name, spec in DATASETS.items():
        ref, ana, gt = getattr(nml, spec["loader"])()
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        for frame, part in ((ref, "reference"), (ana, "analysis"), (gt, "targets")):
            frame = frame.copy()
            for col in frame.columns:  # parquet wants one type per column
                if frame[col].dtype == object:
                    frame[col] = frame[col].astype(str).where(frame[col].notna())
            frame.to_parquet(d / f"{part}.parquet", index=False)
        (d / "meta.json").write_text(json.dumps({**spec, "source": f"nannyml {nml.__version__} {spec['loader']}()"}))
    print(json.dumps({"exported": list(DATASETS), "nannyml": nml.__version__}))


def estimate(out: Path, name: str) -> None:
    import nannyml as nml
    import pandas as pd

    spec = json.loads((out / name / "meta.json").read_text())
    ref = pd.read_parquet(out / name / "reference.parquet")
    ana = pd.read_parquet(out / name / "analysis.parquet")
    chunker = nml.chunk.SizeBasedChunker(spec["chunk"], incomplete="drop")
    before = rss_kb("VmRSS")
    reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    if spec["task"] == "regression":
        metrics = REGRESSION_METRICS
        est = nml.DLE(feature_column_names=spec["features"], y_pred=spec["prediction"], y_true=spec["target"],
                      metrics=metrics, chunker=chunker)
    else:
        metrics = BINARY_METRICS
        est = nml.CBPE(y_pred_proba=spec["proba"], y_pred=spec["prediction"], y_true=spec["target"],
                       problem_type=f"classification_{spec['task']}", metrics=metrics, chunker=chunker)  # multiclass: macro
    est.fit(ref)
    result = est.estimate(ana)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = rss_kb("VmHWM")
    df = result.filter(period="analysis").to_df()
    chunks = []
    for _, row in df.iterrows():
        chunk = {"start": int(row[("chunk", "start_index")]), "end": int(row[("chunk", "end_index")]) + 1}
        for m in metrics:
            chunk[m] = {k: (None if pd.isna(row[(m, k)]) else float(row[(m, k)]))
                        for k in ("value", "sampling_error", "upper_confidence_boundary", "lower_confidence_boundary",
                                  "upper_threshold", "lower_threshold")}
            chunk[m]["alert"] = bool(row[(m, "alert")])
        chunks.append(chunk)
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "peak_growth_mb": max(peak - before, 0) / 1024, "chunks": chunks,
                      "nannyml": nml.__version__}))


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(Path(sys.argv[2]))
    else:
        estimate(Path(sys.argv[2]), sys.argv[3])
