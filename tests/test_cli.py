"""The CLI: demo writes Block Kit files, `dora --json` prints the stable output model."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from bot.cli import app

runner = CliRunner()


def test_demo_then_dora_json_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    result = runner.invoke(app, ["demo", "--now", "2026-11-20T00:00:00+00:00"])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert "03-dora-checkout-30d.json" in files
    blocks = json.loads((tmp_path / "demo" / "03-dora-checkout-30d.json").read_text())["blocks"]
    assert blocks[0]["type"] == "header"

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
    out = runner.invoke(app, ["dora", "--service", "nope"])
    assert out.exit_code == 2
    assert "checkout" in out.output


def test_chat_reads_piped_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    runner.invoke(app, ["demo", "--now", "2026-11-20T00:00:00+00:00"])
    out = runner.invoke(app, ["chat"], input="help\ndora nope\nquit\n")
    assert out.exit_code == 0
    assert "dora [service|team] [window]" in out.output
    assert "don't know a service" in out.output
