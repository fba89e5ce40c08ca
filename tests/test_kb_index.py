from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings as ChromaSettings

from knowledge import retrieval
from knowledge.embedding import MiniLMEmbedding
from knowledge.index import KnowledgeBase
from tests.kb_fixtures import RUNBOOKS, open_kb, shared_embedding, write_corpus


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    kb = open_kb(tmp_path / "chroma")
    kb.ingest_folder(write_corpus(tmp_path / "corpus"), name="team")
    return kb


def test_rrf_by_hand():
    fused = retrieval.rrf([["a", "b", "c"], ["b", "a"]], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["c"] == pytest.approx(1 / 63)
    assert retrieval.ranking(fused) == ["a", "b", "c"]  # ties broken by id


def test_reingest_embeds_only_changed_and_deletes_removed(tmp_path: Path):
    kb = open_kb(tmp_path / "chroma")
    emb = shared_embedding()
    corpus = write_corpus(tmp_path / "corpus")
    before = emb.calls
    first = kb.ingest_folder(corpus, name="team")
    assert (first.documents, first.chunks, first.added, first.embedded) == (4, 11, 11, 11)
    assert emb.calls - before == 11

    before = emb.calls
    again = kb.ingest_folder(corpus, name="team")
    assert (again.embedded, again.unchanged, again.deleted) == (0, 11, 0)
    assert emb.calls == before

    p = corpus / "apps/PodCrashLooping.md"
    p.write_text(p.read_text().replace("Roll back the last deployment", "Scale the deployment to zero"))
    (corpus / "net/CertificateExpiringSoon.md").unlink()
    before = emb.calls
    third = kb.ingest_folder(corpus, name="team")
    assert (third.updated, third.added, third.deleted, third.embedded) == (1, 0, 2, 1)
    assert emb.calls - before == 1
    assert kb.collection.count() == 9
    hit_docs = [h.doc_id for h in kb.search("TLS certificate expires ingress", k=5).hits]
    assert "team/net/CertificateExpiringSoon.md" not in hit_docs
    steps = kb.document_chunks("team/apps/PodCrashLooping.md")
    assert "Scale the deployment to zero" in steps[-1].text


def test_hybrid_ranking_on_a_known_corpus(kb: KnowledgeBase):
    r = kb.search("no space left on the node volume, filesystem nearly full", k=3)
    assert r.found and r.hits[0].doc_id == "team/storage/DiskAlmostFull.md"
    assert r.hits[0].title == "DiskAlmostFull" and r.hits[0].snippets
    r = kb.search("replica returns stale reads, it lags behind the primary database", k=3)
    assert r.hits[0].alert_name == "ReplicationLagHigh"
    assert [h.rank for h in r.hits] == [1, 2, 3]
    assert r.hits[0].score >= r.hits[1].score


def test_verbatim_alert_name_goes_first(kb: KnowledgeBase):
    # The words describe a full disk, but the alert named is the crash loop one.
    r = kb.search("podcrashlooping fired while the filesystem is nearly full, no space left", k=3)
    assert r.hits[0].doc_id == "team/apps/PodCrashLooping.md"
    assert r.hits[0].alert_name_match and r.confidence == 1.0 and r.found
    assert not r.hits[1].alert_name_match


def test_no_runbook_below_the_threshold(kb: KnowledgeBase):
    r = kb.search("how do I bake sourdough bread at home", k=3)
    assert not r.found and r.confidence < r.threshold
    named = kb.search("KubeDeploymentRolloutStuck: rollout of the deployment is not progressing", k=3)
    assert not named.found and named.unknown_alerts == ["KubeDeploymentRolloutStuck"]
    assert kb.search("   ", k=3).hits == []


def test_persisted_collection_reopens_in_a_new_client(kb: KnowledgeBase, tmp_path: Path):
    expected = kb.search("certificate renewal with cert-manager", k=2)
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=ChromaSettings(anonymized_telemetry=False))
    col = client.get_collection(kb.name)  # no embedding function given: chroma rebuilds ours
    assert isinstance(col.configuration["embedding_function"], MiniLMEmbedding)
    assert col.count() == 11
    # chroma embeds the query text with the rebuilt function (offline; its default would download)
    got = col.query(query_texts=["renew the TLS certificate with cert-manager"], n_results=1)
    assert got["metadatas"][0][0]["doc_id"] == "team/net/CertificateExpiringSoon.md"
    again = KnowledgeBase(client, shared_embedding()).search("certificate renewal with cert-manager", k=2)
    assert [h.doc_id for h in again.hits] == [h.doc_id for h in expected.hits]
    assert again.confidence == expected.confidence


def test_corpora_listing_and_removal(kb: KnowledgeBase):
    [info] = kb.corpora()
    assert (info.name, info.documents, info.chunks) == ("team", 4, 11)
    assert kb.remove_corpus("team") == 11
    assert kb.corpora() == []


def test_default_corpus_ingests_once_from_the_shipped_cache(tmp_path: Path):
    kb = open_kb(tmp_path / "chroma")
    report = kb.ensure_default_corpus()
    assert report is not None and report.documents == 108 and report.embedded == 0
    assert kb.ensure_default_corpus() is None
    r = kb.search("KubePodCrashLooping", k=1)
    assert r.hits[0].url == "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"
    assert {c.name for c in kb.corpora()} == {"prometheus-operator"}
    assert len(RUNBOOKS) == 4


def test_lexical_tokens_split_identifiers_and_stem():
    from knowledge.lexical import tokenize

    assert tokenize("KubePodCrashLooping: pods are failing in etcd_server") == [
        "kubepodcrashlooping", "kube", "pod", "crash", "loop", "pod", "fail", "etcd_server", "etcd", "server"
    ]


def test_default_corpus_follows_a_new_release_unless_removed(tmp_path: Path, monkeypatch):
    import shutil

    from knowledge import index as index_mod
    from knowledge.sources import default_corpus_dir

    kb = open_kb(tmp_path / "chroma")
    assert kb.ensure_default_corpus().embedded == 0
    shipped = tmp_path / "next-release"
    shutil.copytree(default_corpus_dir(), shipped)
    p = shipped / "general/Watchdog.md"
    p.write_text(p.read_text().replace("Check alertmanager logs.", "Check the Alertmanager logs first."))
    monkeypatch.setattr(index_mod, "default_corpus_dir", lambda: shipped)
    report = kb.ensure_default_corpus()
    assert (report.updated, report.embedded, report.deleted) == (1, 1, 0)
    assert kb.ensure_default_corpus() is None
    kb.remove_corpus("prometheus-operator")
    (shipped / "general/TargetDown.md").unlink()
    assert kb.ensure_default_corpus() is None and kb.corpora() == []


def test_unknown_alert_only_when_the_query_leads_with_it():
    from knowledge.retrieval import unknown_alert_names

    known = {"kubepodcrashlooping"}
    assert unknown_alert_names("KubeDeploymentRolloutStuck: rollout is stuck", known) == ["KubeDeploymentRolloutStuck"]
    assert unknown_alert_names("etcdHighCommitDurations", known) == ["etcdHighCommitDurations"]
    assert unknown_alert_names("KubePodCrashLooping: pods restart", known) == []
    assert unknown_alert_names("pods stuck in ImagePullBackOff after deploy", known) == []
    assert unknown_alert_names("ImagePullBackOff on checkout pods", known) == []
    assert unknown_alert_names("checkout latency high", known) == []
