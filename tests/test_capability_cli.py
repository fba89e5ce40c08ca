"""One place: a capability declared once is a CLI command, its options read off its input model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from bot.capabilities import Capabilities, Capability, capabilities
from bot.cli import app as default_app
from bot.cli import build_app
from bot.cli_gen import option_name
from tools.contract import ToolContext, tool

runner = CliRunner()


class EchoQuery(BaseModel):
    word: str = Field(min_length=1, description="What to repeat")
    times: int = Field(2, ge=1, le=5, description="How many times")
    tone: Literal["calm", "loud"] = Field("calm", description="How to say it")
    exclaim: bool = Field(False, description="End with an exclamation mark")


class Echo(BaseModel):
    text: str


@tool("echo_word", "Repeat a word (read-only).")
def echo_word(ctx: ToolContext, args: EchoQuery) -> Echo:
    word = args.word.upper() if args.tone == "loud" else args.word
    return Echo(text=" ".join([word] * args.times) + ("!" if args.exclaim else ""))


ECHO = Capability(tool=echo_word, summary="Repeat a word", verbs=("echo",), cli="echo", cli_args=("word",))
NESTED = Capability(tool=echo_word, name="echo_word", summary="Repeat a word, in a new group",
                    cli="toys echo", cli_args=("word",))


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))


def _with(cap: Capability) -> Capabilities:
    return Capabilities([*capabilities(), cap])


def test_a_new_capability_is_a_command_with_options_from_its_model() -> None:
    app = build_app(_with(ECHO))
    listed = runner.invoke(app, ["--help"])
    assert "echo" in listed.output and "Repeat a word" in listed.output
    help_ = runner.invoke(app, ["echo", "--help"])
    assert help_.exit_code == 0, help_.output
    for text in ("WORD", "--times", "How many times", "[default: 2]", "calm|loud", "--exclaim", "--no-exclaim",
                 "--json"):
        assert text.lower() in help_.output.lower(), text
    out = runner.invoke(app, ["echo", "hey", "--times", "3", "--tone", "loud", "--exclaim", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == {"text": "HEY HEY HEY!"}
    plain = runner.invoke(app, ["echo", "hey"])  # no renderer: the output model as JSON
    assert plain.exit_code == 0 and "hey hey" in plain.output


def test_generated_command_rejects_what_the_model_rejects() -> None:
    app = build_app(_with(ECHO))
    bad_choice = runner.invoke(app, ["echo", "hey", "--tone", "angry"])
    assert bad_choice.exit_code == 2 and "angry" in bad_choice.output
    too_many = runner.invoke(app, ["echo", "hey", "--times", "9"])  # le=5, checked by the tool's model
    assert too_many.exit_code == 2 and "times" in too_many.output
    assert runner.invoke(app, ["echo"]).exit_code == 2  # WORD is required


def test_a_capability_under_a_new_group_gets_the_group() -> None:
    app = build_app(_with(NESTED))
    assert "toys" in runner.invoke(app, ["--help"]).output
    out = runner.invoke(app, ["toys", "echo", "hi", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["text"] == "hi hi"


def test_the_default_app_is_built_from_the_default_registry_only() -> None:
    assert runner.invoke(default_app, ["echo", "hey"]).exit_code == 2  # no such command
    names = runner.invoke(default_app, ["--help"]).output
    for cap in capabilities():
        assert cap.cli_path[0] in names, cap.name


def test_dora_options_follow_the_input_model() -> None:
    """Whatever fields DoraQuery has become options (scope today; service/team later)."""
    cap = capabilities().get("dora_metrics")
    assert cap is not None
    out = runner.invoke(default_app, ["dora", "--help"])
    assert out.exit_code == 0, out.output
    for field in cap.input_model.model_fields:
        assert option_name(field) in out.output, field
    assert "--service" in out.output and "--team" in out.output


def test_a_capability_at_a_group_path_is_the_group_default(tmp_path: Path) -> None:
    """model_status's CLI path is `model`, a group of hand-written commands: `model NAME` runs
    it, and so does `model status NAME` (its name in the group)."""
    models = tmp_path / "models.jsonl"
    models.write_text('{"name": "ranker", "service": "search", "version": "1", "aliases": ["champion"]}\n')
    assert runner.invoke(default_app, ["ingest", "models", str(models)]).exit_code == 0
    short = runner.invoke(default_app, ["model", "ranker", "--json"])
    assert short.exit_code == 0, short.output
    long = runner.invoke(default_app, ["model", "status", "ranker", "--json"])
    assert json.loads(short.stdout)["live"] == json.loads(long.stdout)["live"]
    assert json.loads(short.stdout)["live"]["version"] == "1"
    assert runner.invoke(default_app, ["model", "list"]).exit_code == 0  # hand-written ones still there
