"""Runbook search latency: model load, corpus ingest, warm query p50/p95, and at 10,000 chunks.

    python bench/runbooks_latency.py [--queries 200] [--chunks 10000]

Baselines in the same run: embedding the corpus padded to a fixed 256 tokens (what chroma's
own ONNX MiniLM class does) vs padded to the longest input of a batch (ours); ingest from
the shipped vector cache vs embedding every chunk. The 10k-chunk index adds synthetic chunks
(sentences of the real corpus reshuffled, random unit vectors: the index's cost, not the
model's) to the real corpus, and times the same queries against it.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.embedding import MiniLMEmbedding  # noqa: E402
from knowledge.evaluation import build_queries, default_rules_path, load_rules  # noqa: E402
from knowledge.index import KnowledgeBase, _meta  # noqa: E402
from knowledge.models import Chunk  # noqa: E402
from knowledge.sources import default_corpus_dir, load_folder  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, q))


def time_queries(kb: KnowledgeBase, queries: list[str]) -> list[float]:
    for q in queries[:10]:
        kb.search(q, k=5)  # warm
    out = []
    for q in queries:
        t = time.perf_counter()
        kb.search(q, k=5)
        out.append(time.perf_counter() - t)
    return out


def synthetic_chunks(real: list[Chunk], n: int, seed: int = 0) -> list[Chunk]:
    rng = random.Random(seed)
    sentences = [s.strip() for c in real for s in c.text.replace("\n", " ").split(". ") if len(s.split()) > 3]
    out = []
    for i in range(n):
        doc = i // 4
        text = ". ".join(rng.sample(sentences, k=min(6, len(sentences)))) + "."
        out.append(Chunk(id=f"synthetic/Synth{doc}.md#s{i % 4}", corpus="synthetic", path=f"Synth{doc}.md",
                         doc_id=f"synthetic/Synth{doc}.md", title=f"SyntheticAlert{doc}",
                         alert_name=f"SyntheticAlert{doc}", section=("Meaning", "Impact", "Diagnosis", "Mitigation")[i % 4],
                         ordinal=i % 4, text=text, content_hash=f"h{i}"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--chunks", type=int, default=10_000)
    args = ap.parse_args()
    queries = [q.text for q in build_queries(load_rules(default_rules_path())) if not q.with_name]
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    _, _, chunks = load_folder(default_corpus_dir())
    texts = [c.embedding_text() for c in chunks]

    t = time.perf_counter()
    emb = MiniLMEmbedding().load()
    print(f"model load (sha256 check + ONNX session + tokenizer): {time.perf_counter() - t:.2f} s")

    # -- embedding the corpus: pad to longest (ours) vs fixed 256 (chroma's ONNX class) -----------
    t = time.perf_counter()
    emb.embed(texts)
    ours = time.perf_counter() - t
    sample = texts[::8]
    fixed = MiniLMEmbedding().load()
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(ROOT / "knowledge/assets/all-MiniLM-L6-v2/tokenizer.json"))
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=256)
    fixed._tokenizer = tok
    t = time.perf_counter()
    fixed.embed(sample)
    fixed_s = (time.perf_counter() - t) * len(texts) / len(sample)
    print(f"embed {len(texts)} corpus chunks: {ours:.2f} s padded to longest "
          f"({len(texts) / ours:.0f} chunks/s) vs ~{fixed_s:.1f} s padded to 256 "
          f"(estimated from {len(sample)}): {fixed_s / ours:.1f}x")

    with tempfile.TemporaryDirectory() as home:
        settings = SimpleNamespace(home=Path(home), chroma_url=None)
        t = time.perf_counter()
        kb = KnowledgeBase.from_settings(settings)
        rep = kb.ensure_default_corpus()
        cached = time.perf_counter() - t
        print(f"first use, default corpus from the shipped cache: {cached:.2f} s "
              f"({rep.chunks} chunks, {rep.embedded} embedded)")
        kb2 = KnowledgeBase.from_settings(SimpleNamespace(home=Path(home) / "nocache", chroma_url=None))
        t = time.perf_counter()
        rep2 = kb2.ingest_chunks("prometheus-operator", chunks)
        print(f"ingest without the cache: {time.perf_counter() - t:.2f} s ({rep2.embedded} embedded)")
        t = time.perf_counter()
        rep3 = kb2.ingest_chunks("prometheus-operator", chunks)
        print(f"re-ingest, nothing changed: {time.perf_counter() - t:.2f} s ({rep3.embedded} embedded)")

        lat = time_queries(kb, queries)
        emb_lat = []
        for q in queries:
            t = time.perf_counter()
            kb.embedding.embed([q])
            emb_lat.append(time.perf_counter() - t)
        print(f"warm hybrid query, {rep.chunks} chunks, {len(queries)} queries: "
              f"p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms "
              f"(of which query embedding p50 {pct(emb_lat, 50):.1f} ms)")

        # -- 10,000 chunks --------------------------------------------------------------------
        extra = synthetic_chunks(chunks, args.chunks - len(chunks))
        rng = np.random.default_rng(0)
        vecs = rng.normal(size=(len(extra), 384)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        t = time.perf_counter()
        for s in range(0, len(extra), 1000):
            kb.collection.upsert(ids=[c.id for c in extra[s:s + 1000]], embeddings=vecs[s:s + 1000],
                                 documents=[c.text for c in extra[s:s + 1000]],
                                 metadatas=[_meta(c) for c in extra[s:s + 1000]])
        kb._bump_revision()
        kb._invalidate()
        print(f"added {len(extra)} synthetic chunks to chroma: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        snap = kb.snapshot()
        print(f"snapshot rebuild (read {len(snap.chunks)} chunks + BM25 index): {time.perf_counter() - t:.2f} s")
        lat10 = time_queries(kb, queries)
        print(f"warm hybrid query, {len(snap.chunks)} chunks: p50 {pct(lat10, 50):.1f} ms, "
              f"p95 {pct(lat10, 95):.1f} ms ({pct(lat10, 50) / pct(lat, 50):.2f}x the {rep.chunks}-chunk p50)")
        right = sum(kb.search(q.text, k=3).hits[0].doc_id == q.truth
                    for q in build_queries(load_rules(default_rules_path())) if q.truth and not q.with_name)
        print(f"sanity at {len(snap.chunks)} chunks: top-1 right for {right} of 121 no-name queries")


if __name__ == "__main__":
    main()
