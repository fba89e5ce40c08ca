"""The CLI starts instantly: importing it, its help and the `dora` path pull no heavy library.

Each check runs in a fresh interpreter (a subprocess) and reads its `sys.modules`, so what
this test process has imported already cannot hide anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
HEAVY = {"pandas", "scipy", "sklearn", "matplotlib", "langchain", "langchain_core", "chromadb", "onnxruntime"}
# Not forbidden by the issue, but `triops --help` must not pay for them either.
ALSO_AVOIDED_AT_IMPORT = {"sqlalchemy", "slack_sdk", "numpy"}

# Runs the CLI once per argument list in one interpreter, then prints the top-level modules.
RUNNER = """
import json, sys
from bot.cli import app
for argv in json.loads(sys.argv[1]):
    try:
        app(argv, standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
"""


def _env(home: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("TRIOPS_DATABASE_URL", None)
    if home is not None:
        env["TRIOPS_HOME"] = str(home)
    return env


def _modules_after(argvs: list[list[str]], home: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(argvs)], env=_env(home), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_import_bot_cli_pulls_no_heavy_library() -> None:
    code = "import bot.cli, json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    proc = subprocess.run([sys.executable, "-c", code], env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert "typer" in loaded  # the check sees what the import pulled
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
    assert not loaded & ALSO_AVOIDED_AT_IMPORT, sorted(loaded & ALSO_AVOIDED_AT_IMPORT)


def test_help_of_groups_and_generated_commands_is_light(tmp_path: Path) -> None:
    argvs = [["--help"], ["alerts", "--help"], ["alerts", "list", "--help"], ["alerts", "show", "--help"],
             ["alerts", "stats", "--help"], ["dora", "--help"], ["model", "--help"], ["kb", "--help"],
             ["kb", "search", "--help"], ["drift", "--help"], ["ingest", "--help"], ["eval", "--help"]]
    loaded = _modules_after(argvs, tmp_path)
    assert "bot" in loaded
    assert not loaded & (HEAVY | {"slack_sdk"}), sorted(loaded & (HEAVY | {"slack_sdk"}))


def test_dora_json_path_pulls_no_heavy_library(tmp_path: Path) -> None:
    ingest = subprocess.run([sys.executable, "-m", "bot.cli", "ingest", "deployments",
                             str(DATA / "dora_small_deployments.jsonl")], env=_env(tmp_path), cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert ingest.returncode == 0, ingest.stderr
    loaded = _modules_after([["dora", "--service", "checkout", "--window", "90d",
                              "--as-of", "2026-03-31T00:00:00Z", "--json"]], tmp_path)
    assert {"sqlalchemy", "numpy"} <= loaded  # it did run the tool
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
