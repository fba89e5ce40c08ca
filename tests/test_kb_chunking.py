from pathlib import Path

import pytest

from knowledge.chunking import MAX_CHUNK_CHARS, chunk_markdown, published_url, split_long
from knowledge.sources import CorpusError, load_folder

DOC = """---
title: Kube Pod Crash Looping
weight: 20
---

# KubePodCrashLooping

## Meaning

Pod is in CrashLoop.

## Diagnosis

Check the logs.

```shell
# not a heading: a shell comment in a code block
$ kubectl logs $POD
```

### Events

Look at the events.

## Mitigation

Roll back.
"""

TEMPLATE = "https://runbooks.example.dev/runbooks/{parent}/{stem_lower}"


def chunks(text: str = DOC):
    return chunk_markdown(text, corpus="ops", path="kubernetes/KubePodCrashLooping.md", url_template=TEMPLATE)


def test_sections_ids_and_metadata():
    cs = chunks()
    assert [c.id for c in cs] == [
        "ops/kubernetes/KubePodCrashLooping.md#meaning",
        "ops/kubernetes/KubePodCrashLooping.md#diagnosis",
        "ops/kubernetes/KubePodCrashLooping.md#diagnosis/events",
        "ops/kubernetes/KubePodCrashLooping.md#mitigation",
    ]
    assert [(c.section, c.subsection) for c in cs] == [
        ("Meaning", ""), ("Diagnosis", ""), ("Diagnosis", "Events"), ("Mitigation", "")
    ]
    assert [c.ordinal for c in cs] == [0, 1, 2, 3]
    diag = cs[1]
    assert "# not a heading" in diag.text and "kubectl logs $POD" in diag.text
    assert diag.title == "KubePodCrashLooping" and diag.alert_name == "KubePodCrashLooping"
    assert diag.front_matter == {"title": "Kube Pod Crash Looping", "weight": "20"}
    assert diag.url == "https://runbooks.example.dev/runbooks/kubernetes/kubepodcrashlooping"
    assert diag.doc_id == "ops/kubernetes/KubePodCrashLooping.md"
    # The embedded text carries the runbook's names and the section, split into words.
    assert diag.embedding_text().startswith("KubePodCrashLooping / Kube Pod Crash Looping — Diagnosis\n")


def test_ids_stable_and_hash_changes_only_where_text_changed():
    a, b = chunks(), chunks()
    assert [c.id for c in a] == [c.id for c in b]
    assert [c.content_hash for c in a] == [c.content_hash for c in b]
    edited = chunks(DOC.replace("Roll back.", "Roll back the deployment."))
    changed = [x.id for x, y in zip(a, edited, strict=True) if x.content_hash != y.content_hash]
    assert changed == ["ops/kubernetes/KubePodCrashLooping.md#mitigation"]


def test_file_name_is_the_alert_name_even_when_the_heading_disagrees():
    cs = chunk_markdown("# OtherAlert\n\n## Meaning\n\nx y\n", corpus="c", path="a/RealAlert.md")
    assert cs[0].alert_name == "RealAlert" and cs[0].title == "OtherAlert"
    plain = chunk_markdown("# Disk is full\n\ntext\n", corpus="c", path="notes/disk full.md")
    assert plain[0].alert_name is None and plain[0].id == "c/notes/disk full.md#intro"


def test_long_sections_split_at_paragraphs_never_inside_code():
    code = "```\n" + "\n".join(f"echo {i}" for i in range(40)) + "\n```"
    paras = [("word " * 60).strip() for _ in range(6)]
    text = "\n\n".join([paras[0], paras[1], code, *paras[2:]])
    pieces = split_long(text)
    assert len(pieces) > 1
    assert sum(p.count("```") for p in pieces) == 2
    assert any(code in p for p in pieces)
    assert all(len(p) <= MAX_CHUNK_CHARS for p in pieces if "```" not in p)
    doc = "# A\n\n## Diagnosis\n\n" + text
    ids = [c.id for c in chunk_markdown(doc, corpus="c", path="A.md")]
    assert ids[0] == "c/A.md#diagnosis" and ids[1] == "c/A.md#diagnosis~p2"


def test_published_url_rule():
    assert published_url(TEMPLATE, "etcd/etcdNoLeader.md") == "https://runbooks.example.dev/runbooks/etcd/etcdnoleader"
    assert published_url(None, "x.md") is None


def test_load_folder_errors(tmp_path: Path):
    with pytest.raises(CorpusError, match="Not a folder"):
        load_folder(tmp_path / "missing")
    with pytest.raises(CorpusError, match="No markdown"):
        load_folder(tmp_path)
    (tmp_path / "a.md").write_text("# A\n\ntext\n")
    with pytest.raises(CorpusError, match="Bad corpus name"):
        load_folder(tmp_path, name="../etc")
    name, _, cs = load_folder(tmp_path, name="mine")
    assert name == "mine" and cs[0].id == "mine/a.md#intro"


def test_default_corpus_shape():
    from knowledge.sources import default_corpus_dir

    name, template, cs = load_folder(default_corpus_dir())
    assert name == "prometheus-operator" and template
    assert len({c.doc_id for c in cs}) == 108
    assert len({c.id for c in cs}) == len(cs)
    wb = [c for c in cs if c.path == "prometheus/PrometheusRemoteWriteBehind.md"]
    assert wb[0].url == "https://runbooks.prometheus-operator.dev/runbooks/prometheus/prometheusremotewritebehind"
