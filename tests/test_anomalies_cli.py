"""`triops anomalies score FILE --json`: one {timestamp, score} per input row, causal, in [0,1]."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot.cli", "anomalies", "score", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_one_json_object_per_row_with_scores_in_unit_interval(tmp_path: Path) -> None:
    rows = ["timestamp,value"] + [f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00,{100 + (i % 7)}" for i in range(600)]
    rows[500] = "2024-01-01 08:19:00,900"  # a spike
    rows[300] = "2024-01-01 04:59:00,"  # a gap
    path = tmp_path / "s.csv"
    path.write_text("\n".join(rows) + "\n")
    proc = _run(str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 600
    assert [o["timestamp"] for o in out] == [r.split(",")[0] for r in rows[1:]]
    assert all(set(o) == {"timestamp", "score"} and 0.0 <= o["score"] <= 1.0 for o in out)
    assert max(range(600), key=lambda i: out[i]["score"]) == 499
    # causal: truncating the file leaves the earlier scores unchanged
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:400]) + "\n")
    prefix = [json.loads(line) for line in _run(str(short), "--json").stdout.splitlines()]
    assert prefix == out[:399]


def test_bad_files_give_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("time,val\n1,2\n")
    proc = _run(str(bad), "--json")
    assert proc.returncode == 2 and "timestamp,value" in proc.stderr and "Traceback" not in proc.stderr
    word = tmp_path / "word.csv"
    word.write_text("timestamp,value\n2024-01-01,abc\n")
    proc = _run(str(word), "--json")
    assert proc.returncode == 2 and "line 2" in proc.stderr
    proc = _run(str(tmp_path / "missing.csv"), "--json")
    assert proc.returncode == 2 and "no such file" in proc.stderr
