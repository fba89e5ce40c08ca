from pathlib import Path

import pytest

from knowledge.chunking import chunk_markdown
from knowledge.index import KnowledgeBase
from knowledge.remediation import extract_steps, parse_steps, top_runbook_for_alert
from knowledge.sources import default_corpus_dir
from tests.kb_fixtures import open_kb, write_corpus


def test_steps_from_the_shipped_crash_loop_runbook():
    path = default_corpus_dir() / "kubernetes/KubePodCrashLooping.md"
    chunks = chunk_markdown(path.read_text(), corpus="po", path="kubernetes/KubePodCrashLooping.md")
    steps = extract_steps(chunks)
    assert [s.commands for s in steps[:3]] == [
        ["kubectl -n $NAMESPACE get pod $POD"],
        ["kubectl -n $NAMESPACE describe pod $POD"],
        ["kubectl -n $NAMESPACE logs $POD -c $CONTAINER"],
    ]
    assert steps[0].text == "Check template via `kubectl -n $NAMESPACE get pod $POD`."
    assert [s.number for s in steps] == list(range(1, len(steps) + 1))
    # Nested bullets stay in their parent step.
    assert steps[3].text.startswith("Check pod template parameters such as:") and "pod priority" in steps[3].text
    assert {s.section for s in steps} == {"Diagnosis", "Mitigation"}
    assert steps[-1].section == "Mitigation" and "Debugging Pods" in steps[-1].text
    assert extract_steps(chunks, max_steps=2) == steps[:2]


def test_code_blocks_belong_to_the_step_before_and_lose_their_prompt():
    md = """Find the largest directories:

```shell
$ du -xh /var | sort -h
$ df -h
```

```
# TODO: Command needed
```

[1](https://example.com/x)
"""
    steps = parse_steps(md, "Diagnosis")
    assert len(steps) == 1
    assert steps[0].text == "Find the largest directories:"
    assert steps[0].commands == ["du -xh /var | sort -h\ndf -h"]


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    kb = open_kb(tmp_path / "chroma")
    kb.ingest_folder(write_corpus(tmp_path / "corpus"), name="team",
                     url_template="https://wiki.example.com/{stem}")
    return kb


def test_top_runbook_for_alert(kb: KnowledgeBase):
    s = top_runbook_for_alert(kb, "DiskAlmostFull", "node disk at 97%")
    assert s is not None and s.matched_by == "alert_name" and s.confidence == 1.0
    assert s.url == "https://wiki.example.com/DiskAlmostFull" and s.path == "team/storage/DiskAlmostFull.md"
    assert s.steps[0].commands == ["du -xh /var | sort -h | tail"]
    assert s.steps[1].commands == ["crictl rmi --prune"] and s.steps[1].section == "Mitigation"

    by_text = top_runbook_for_alert(kb, None, "the database replica lags behind the primary and serves stale reads")
    assert by_text is not None and by_text.matched_by == "search" and by_text.title == "ReplicationLagHigh"

    # An alert we have no runbook for gets none, not its nearest neighbour's runbook.
    assert top_runbook_for_alert(kb, "DiskWriteLatencyHigh", "disk writes are slow on the node") is None
    assert top_runbook_for_alert(kb, None, "") is None


def test_suggestion_renders_for_the_incident_post(kb: KnowledgeBase):
    from bot.render.runbooks import suggestion_blocks, suggestion_text

    s = top_runbook_for_alert(kb, "PodCrashLooping", "checkout pods restart")
    assert s is not None
    blocks = [b.to_dict() for b in suggestion_blocks(s, max_steps=2)]
    text = blocks[0]["text"]["text"]
    assert "<https://wiki.example.com/PodCrashLooping|PodCrashLooping> — matched by alert name" in text
    assert "```kubectl -n $NAMESPACE logs $POD --previous```" in text
    assert suggestion_text(s, max_steps=1).splitlines()[1].startswith("1. Check the logs")
