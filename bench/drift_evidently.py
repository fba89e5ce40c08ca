"""Evidently's side of bench/drift.py; runs in Evidently's own venv (it is no triops dependency).

usage: EVIDENTLY_PYTHON bench/drift_evidently.py REF.parquet CUR.parquet NUMERIC,... CATEGORICAL,...
Prints one JSON line: {"seconds": …, "columns": {name: {"method", "score"}}}.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main() -> None:
    ref_path, cur_path, numeric, categorical = sys.argv[1:5]
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    definition = DataDefinition(numerical_columns=numeric.split(","), categorical_columns=categorical.split(","))
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    columns = {
        m["config"]["column"]: {"method": m["config"]["method"], "score": float(m["value"]), "threshold": m["config"]["threshold"]}
        for m in result["metrics"]
        if m["config"]["type"].endswith("ValueDrift")
    }
    print(json.dumps({"seconds": seconds, "columns": columns}))


if __name__ == "__main__":
    main()
