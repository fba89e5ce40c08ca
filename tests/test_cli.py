"""The CLI: demo writes Block Kit files, `dora --json` prints the stable output model; help,
ingest exit codes, service names, runbook commands and narrow consoles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bot.capabilities import capabilities
from bot.cli import app
from bot.render import to_rich
from bot.reply import Reply
from tools.result import ToolResult

runner = CliRunner()


def test_demo_then_dora_json_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    result = runner.invoke(app, ["demo", "--now", "2026-11-20T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert "03-dora-checkout-30d.json" in files
    blocks = json.loads((tmp_path / "demo" / "03-dora-checkout-30d.json").read_text())["blocks"]
    assert blocks[0]["type"] == "header"
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "demo"))  # the demo keeps its own store

    out = runner.invoke(app, ["dora", "--service", "checkout", "--window", "30d", "--as-of", "2026-11-20T00:00:00+00:00", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["scope"] == {"kind": "service", "name": "checkout", "services": ["checkout"]}
    freq = report["current"]["deployment_frequency"]
    assert freq["per_day"] == freq["deployments"] / 30
    assert f"{freq['per_day']:.2f}/day" in json.dumps(blocks)


def test_dora_unknown_service_exits_2_with_the_known_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    runner.invoke(app, ["demo", "--now", "2026-11-20T00:00:00+00:00"])
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "demo"))
    out = runner.invoke(app, ["dora", "--service", "nope"])
    assert out.exit_code == 2
    assert "checkout" in out.output


def test_chat_reads_piped_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    runner.invoke(app, ["demo", "--now", "2026-11-20T00:00:00+00:00"])
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "demo"))
    out = runner.invoke(app, ["chat"], input="help\ndora nope\nquit\n")
    assert out.exit_code == 0
    assert "dora [service|team] [window]" in out.output
    assert "don't know a service" in out.output


# --- defects of Foundation v2 -------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
DEMO_NOW = "2026-11-20T00:00:00+00:00"


def _command_paths(cmd: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name in getattr(cmd, "list_commands", lambda ctx: [])(None):
        yield from _command_paths(cmd.get_command(None, name), [*path, name])


def test_every_command_help_works():
    """`triops drift --help` crashed on '[/LABEL]' read as rich markup; no help may crash."""
    import typer

    paths = list(_command_paths(typer.main.get_command(app), []))
    assert ["drift"] in paths and ["alerts", "list"] in paths and ["model", "status"] in paths
    for path in paths:
        out = runner.invoke(app, [*path, "--help"])
        assert out.exit_code == 0, (path, out.output)
    assert "store:MODEL/LABEL" in runner.invoke(app, ["drift", "--help"]).output


def _lines(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ingest_exit_codes_say_how_much_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    good = (DATA / "dora_small_deployments.jsonl").read_text().splitlines()[:2]
    partial = _lines(tmp_path, "partial.jsonl", [good[0], "{broken", good[1]])
    out = runner.invoke(app, ["ingest", "deployments", str(partial)])
    assert out.exit_code == 3, out.output  # some lines failed…
    assert "loaded 2 deployments" in out.output and "line 2" in out.output  # …the good ones loaded
    report = json.loads(runner.invoke(app, ["ingest", "deployments", str(partial), "--json"]).stdout)
    assert report["loaded"] == 2 and report["errors"][0]["line"] == 2
    bad = _lines(tmp_path, "bad.jsonl", ["{broken", '{"id": "x"}'])
    assert runner.invoke(app, ["ingest", "incidents", str(bad)]).exit_code == 1  # nothing loaded
    assert runner.invoke(app, ["ingest", "deployments", str(tmp_path / "missing.jsonl")]).exit_code == 2
    whole = _lines(tmp_path, "good.jsonl", good)
    assert runner.invoke(app, ["ingest", "deployments", str(whole)]).exit_code == 0
    assert "3 some lines failed" in runner.invoke(app, ["ingest", "deployments", "--help"]).output


def test_alerts_list_knows_the_services_the_store_knows(tmp_path, monkeypatch):
    """A service seen only in ingested deployments is known to `dora` and to `alerts list`."""
    from tools.scenario.topology import catalog

    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    catalog().dump(tmp_path / "services.yaml")
    assert "ledger" not in catalog().service_names
    deploy = json.loads((DATA / "dora_small_deployments.jsonl").read_text().splitlines()[0])
    path = _lines(tmp_path, "d.jsonl", [json.dumps({**deploy, "service": "ledger"})])
    assert runner.invoke(app, ["ingest", "deployments", str(path)]).exit_code == 0
    assert runner.invoke(app, ["dora", "--service", "ledger", "--json"]).exit_code == 0
    listed = runner.invoke(app, ["alerts", "list", "ledger", "--state", "all", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == {"service": "ledger", "state": "all", "incidents": []}
    unknown = runner.invoke(app, ["alerts", "list", "nowhere"])
    assert unknown.exit_code == 2 and "ledger" in unknown.output and "payments" in unknown.output


def _runbook_result() -> ToolResult:
    from knowledge.models import RemediationStep, RunbookHit
    from tools.runbooks.models import RunbookResults

    hit = RunbookHit(rank=1, doc_id="node/NodeRAIDDegraded.md", title="NodeRAIDDegraded", corpus="c",
                     path="node/NodeRAIDDegraded.md", score=1.0, alert_name_match=True)
    step = RemediationStep(number=1, section="Diagnosis", text="Open a shell on the node:",
                           commands=['NODE_NAME=node-1\n\noc debug "node/$NODE_NAME"\ncat /proc/mdstat',
                                     "kubectl get nodes"])
    out = RunbookResults(query="NodeRAIDDegraded", found=True, confidence=0.9, threshold=0.2, hits=[hit],
                         steps=[step])
    return ToolResult(tool="runbook_search", args={}, output=out)


def test_runbook_view_shows_each_command_on_its_own_line():
    console = Console(width=100, record=True)
    console.print(to_rich(Reply.of(_runbook_result())))
    lines = [line.strip(" │") for line in console.export_text().splitlines()]
    for command in ("NODE_NAME=node-1", 'oc debug "node/$NODE_NAME"', "cat /proc/mdstat", "kubectl get nodes"):
        assert command in lines, (command, lines)
    cap = capabilities().get("runbook_search")
    assert cap is not None and cap.renderer is not None
    text_lines = cap.renderer.text(_runbook_result().output).splitlines()
    assert '     $ oc debug "node/$NODE_NAME"' in text_lines and "     $ cat /proc/mdstat" in text_lines


def _demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    assert runner.invoke(app, ["demo", "--now", DEMO_NOW]).exit_code == 0
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "demo"))  # the demo keeps its own store


def _rendered(result_json: str, tool: str, width: int) -> str:
    cap = capabilities().get(tool)
    assert cap is not None
    output = cap.resolved_tool.output_model.model_validate_json(result_json)
    console = Console(width=width, record=True)
    console.print(to_rich(Reply.of(ToolResult(tool=tool, args={}, output=output))))
    return console.export_text()


def test_narrow_console_keeps_the_key_values(tmp_path, monkeypatch):
    _demo(tmp_path, monkeypatch)
    dora = runner.invoke(app, ["dora", "--service", "checkout", "--as-of", DEMO_NOW, "--json"]).stdout
    report = json.loads(dora)
    text = _rendered(dora, "dora_metrics", 60)
    assert "checkout" in text
    cur = report["current"]
    assert f"{cur['deployment_frequency']['per_day']:.2f}/day" in text
    assert f"{cur['change_fail_rate']['rate_percent']:.1f} %" in text
    for level in (cur["deployment_frequency"]["level"], cur["change_fail_rate"]["level"]):
        assert level in text
    incidents = runner.invoke(app, ["alerts", "list", "--state", "all", "--json"]).stdout
    text = _rendered(incidents, "alerts_list", 60)
    rows = [line for line in text.splitlines() if "inc-" in line]
    for inc in json.loads(incidents)["incidents"]:
        (row,) = [line for line in rows if inc["id"] in line]
        assert inc["severity"] in row and f" {inc['alert_count']} " in row
        if inc["causes"]:
            assert f"{inc['causes'][0]['service']})" in text  # "(cause: payments)", maybe on a folded line
    assert max(len(line) for line in text.splitlines()) <= 60


def test_columns_60_and_pipes_in_a_real_process(tmp_path, monkeypatch):
    _demo(tmp_path, monkeypatch)
    env = {**os.environ, "TRIOPS_HOME": str(tmp_path / "demo"), "PYTHONPATH": str(ROOT)}
    ids = [i["id"] for i in json.loads(runner.invoke(app, ["alerts", "list", "--state", "all", "--json"]).stdout)["incidents"]]

    def run(extra_env: dict[str, str]) -> str:
        proc = subprocess.run([sys.executable, "-m", "bot.cli", "alerts", "list", "--state", "all"],
                              env={**env, **extra_env}, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    narrow = run({"COLUMNS": "60"})
    assert all(i in narrow for i in ids) and max(map(len, narrow.splitlines())) <= 60
    env.pop("COLUMNS", None)
    piped = run({})  # stdout is a pipe: a readable width, every column
    assert all(i in piped for i in ids) and "Opened (UTC)" in piped
    assert 80 < max(map(len, piped.splitlines())) <= 120
