"""runbook_search through the registry, `/triops runbook`, its Block Kit, and `triops kb`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.render import to_blocks, to_text
from bot.reply import Reply
from bot.router import Asker, Router
from bot.runtime import Runtime
from tools.catalog import ServiceCatalog
from tools.errors import ToolError
from tools.runbooks.models import RunbookResults
from tools.settings import Settings

runner = CliRunner()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = Settings(TRIOPS_HOME=tmp_path)
    return Runtime.build(settings, catalog=ServiceCatalog(services=[]))


def _ask(rt: Runtime, text: str) -> Reply:
    return Router(rt).handle(text, Asker(user="U1", surface="console"))


def test_tool_is_registered_and_validates(runtime: Runtime):
    assert "runbook_search" in runtime.registry
    out = runtime.call("runbook_search", {"query": "KubePodCrashLooping", "k": 2, "steps": 3})
    assert isinstance(out, RunbookResults) and out.found and len(out.hits) == 2
    assert out.hits[0].url == "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"
    assert [s.number for s in out.steps] == [1, 2, 3]
    assert out.steps[0].commands == ["kubectl -n $NAMESPACE get pod $POD"]
    with pytest.raises(ToolError, match="query"):
        runtime.call("runbook_search", {"query": ""})


def test_slash_command_blocks(runtime: Runtime):
    reply = _ask(runtime, "runbook etcd cluster has no leader")
    blocks = to_blocks(reply)  # slack_sdk checks Slack's limits here
    assert blocks[0]["type"] == "header" and "etcdNoLeader" in blocks[0]["text"]["text"]
    assert "<https://runbooks.prometheus-operator.dev/runbooks/etcd/etcdnoleader|etcdNoLeader>" in json.dumps(blocks)
    assert len(blocks) <= 50

    none = _ask(runtime, "runbook KubeDeploymentRolloutStuck")
    text = to_text(none)
    assert text.startswith("No runbook found") and "not for this alert" in text
    assert "header" not in json.dumps(to_blocks(none))

    usage = _ask(runtime, "runbook")
    assert usage.ephemeral and "Usage: runbook" in to_text(usage)


def test_runbook_text_is_escaped_for_slack(runtime: Runtime, tmp_path: Path):
    from tools.runbooks.tool import knowledge_base

    corpus = tmp_path / "evil"
    corpus.mkdir()
    (corpus / "QueueBacklogGrowing.md").write_text(
        "# QueueBacklogGrowing\n\n## Meaning\n\nThe queue backlog grows.\n\n## Mitigation\n\n"
        "- Tell <!channel> and visit <http://evil.example|your bank> then run `kubectl get pods -A`.\n"
    )
    knowledge_base(runtime.ctx).ingest_folder(corpus, name="evil")
    dumped = json.dumps(to_blocks(_ask(runtime, "runbook QueueBacklogGrowing")))
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    assert "<http://evil.example|" not in dumped


def test_cli_kb_ingest_list_search_batch(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "home"))
    corpus = tmp_path / "mine"
    corpus.mkdir()
    (corpus / "DiskAlmostFull.md").write_text("# DiskAlmostFull\n\n## Meaning\n\nThe disk is almost full.\n")

    first = runner.invoke(app, ["kb", "ingest", str(corpus), "--name", "team", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["embedded"] == 1
    again = json.loads(runner.invoke(app, ["kb", "ingest", str(corpus), "--name", "team", "--json"]).stdout)
    assert again["embedded"] == 0 and again["unchanged"] == 1

    listed = json.loads(runner.invoke(app, ["kb", "list", "--json"]).stdout)
    assert {c["name"]: c["documents"] for c in listed} == {"prometheus-operator": 108, "team": 1}

    one = json.loads(runner.invoke(app, ["kb", "search", "DiskAlmostFull", "-k", "2", "--json"]).stdout)
    assert one["version"] == 1 and one["found"] and one["hits"][0]["doc_id"] == "team/DiskAlmostFull.md"

    queries = tmp_path / "q.txt"
    queries.write_text("KubePodCrashLooping\n\nhow do I bake sourdough bread\n" + "x" * 3000 + "\n")
    out = runner.invoke(app, ["kb", "search", "--batch", str(queries), "--json"])
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [ln.get("found") for ln in lines] == [True, False, None]
    assert lines[0]["hits"][0]["alert_name"] == "KubePodCrashLooping"
    assert "error" in lines[2] and lines[2]["version"] == 1

    assert runner.invoke(app, ["kb", "ingest", str(tmp_path / "missing")]).exit_code == 2
    assert runner.invoke(app, ["kb", "search"]).exit_code == 2


def test_slash_runbook_through_bolt_is_acked_then_answered(tmp_path: Path):
    from tests.slack_harness import SlackHarness

    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path),
                       catalog=ServiceCatalog(services=[]))
    h = SlackHarness.start(rt)
    try:
        # first use: model load + corpus happen after the ack (ack-before-work: test_slack_app)
        resp, name = h.command("runbook KubePodCrashLooping")
        assert resp.status_code == 200
        posted = h.response(name, timeout=60)
        dumped = json.dumps(posted["blocks"])
        assert "<https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping|KubePodCrashLooping>" in dumped
        assert "kubectl -n $NAMESPACE describe pod $POD" in dumped
        _, name = h.command("help")
        assert "/triops runbook <alert name or question>" in h.response(name)["text"]
    finally:
        h.stop()


def test_a_broken_index_is_a_tool_error_not_a_trace(runtime: Runtime):
    from tools.runbooks.tool import knowledge_base

    kb = knowledge_base(runtime.ctx)
    kb.client.delete_collection(kb.name)  # e.g. dropped on the shared server by someone else
    kb._invalidate()
    reply = _ask(runtime, "runbook KubePodCrashLooping")
    assert reply.error and "could not be searched" in reply.error.message
    assert "Traceback" not in to_text(reply)
