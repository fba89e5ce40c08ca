"""bench/llm_local.py against a server the user runs (`--base-url`): `--cli` is honoured there too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.agent.openai_double import OpenAIDouble

ROOT = Path(__file__).resolve().parents[2]


def test_base_url_with_cli_also_runs_the_cli_eval(tmp_path: Path) -> None:
    with OpenAIDouble() as double:
        # nothing scripted: HTTP 500 to every answer, the planner answers, the run goes on
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "llm_local.py"), "--base-url", double.base_url + "/",
             "--models", "local", "--questions", "2", "--cli", "--out", str(tmp_path)],
            env={**os.environ, "PYTHONPATH": str(ROOT), "TRIOPS_HOME": str(tmp_path / "home")},
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"triops eval agent --llm --cases {tmp_path / 'cases.yaml'}" in done.stdout
    assert "`triops eval agent --llm` (exit" in done.stdout  # its summary line, under the table
    cli = (tmp_path / "cli.txt").read_text()
    assert "triops eval agent · 2 questions" in cli and "llm (local)" in cli  # the CLI ran, with the LLM
