"""The runbook knowledge base: chunks in a chroma collection, searched by BM25 + dense vectors.

Chroma holds the vectors, texts and metadata (embedded PersistentClient under TRIOPS_HOME, or a
server at TRIOPS_CHROMA_URL shared by replicas). The BM25 index is rebuilt in memory from the
stored chunks whenever the collection's revision changes, so every replica ranks alike.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from knowledge import retrieval, vector_cache
from knowledge.embedding import MiniLMEmbedding, OpenAIEmbedding, embedding_from_settings
from knowledge.lexical import LexicalIndex
from knowledge.models import (
    Chunk,
    CorpusInfo,
    IngestReport,
    RunbookHit,
    RunbookSearchResult,
    Snippet,
)
from knowledge.sources import DEFAULT_CORPUS, default_corpus_dir, load_folder, validate_name

DENSE_CANDIDATES = 100  # chunks fetched from the vector index per query
UPSERT_BATCH = 1000
SNIPPET_CHARS = 280
REVISION_KEY = "triops_revision"
SEEDED_KEY = "triops_default_seeded"
REVISION_CHECK_SECONDS = 2.0
Mode = str  # "hybrid" | "bm25" | "dense"


def make_client(settings: Any) -> Any:
    """HttpClient when TRIOPS_CHROMA_URL is set (replicas share it), else a PersistentClient."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if getattr(settings, "chroma_url", None):
        u = urlparse(settings.chroma_url)
        ssl = u.scheme == "https"
        return chromadb.HttpClient(
            host=u.hostname or "localhost",
            port=u.port or (443 if ssl else 8000),
            ssl=ssl,
            settings=chroma_settings,
        )
    path = Path(settings.home) / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def collection_name(ef: Any) -> str:
    """One collection per embedding model: vectors of two models never mix."""
    if isinstance(ef, OpenAIEmbedding):
        model = "".join(c if c.isalnum() else "-" for c in ef.model.lower())
        return f"runbooks-openai-{model}"[:63]
    return "runbooks-minilm-l6-int8"


def _meta(c: Chunk) -> dict[str, Any]:
    return {
        "corpus": c.corpus,
        "doc_id": c.doc_id,
        "path": c.path,
        "title": c.title,
        "alert_name": c.alert_name or "",
        "section": c.section,
        "subsection": c.subsection,
        "ordinal": c.ordinal,
        "url": c.url or "",
        "hash": c.content_hash,
        "front_matter": json.dumps(c.front_matter, sort_keys=True),
    }


def _chunk(cid: str, text: str, m: dict[str, Any]) -> Chunk:
    return Chunk(
        id=cid,
        corpus=m["corpus"],
        path=m["path"],
        doc_id=m["doc_id"],
        title=m["title"],
        alert_name=m.get("alert_name") or None,
        section=m.get("section", ""),
        subsection=m.get("subsection", ""),
        ordinal=int(m.get("ordinal", 0)),
        text=text or "",
        url=m.get("url") or None,
        front_matter=json.loads(m.get("front_matter") or "{}"),
        content_hash=m.get("hash", ""),
    )


@dataclass
class _Snapshot:
    """Everything derived from the stored chunks that a query needs in memory."""

    revision: str
    chunks: list[Chunk]
    by_id: dict[str, Chunk]
    doc_of_chunk: np.ndarray  # chunk position -> doc position
    docs: list[str]
    lexical: LexicalIndex
    alert_index: dict[str, list[str]]
    doc_chunks: dict[str, list[Chunk]]

    @property
    def vocabulary(self) -> _Vocabulary:
        return _Vocabulary(self.lexical)

    @classmethod
    def build(cls, revision: str, chunks: list[Chunk]) -> _Snapshot:
        chunks = sorted(chunks, key=lambda c: (c.doc_id, c.ordinal))
        docs = list(dict.fromkeys(c.doc_id for c in chunks))
        pos = {d: i for i, d in enumerate(docs)}
        alert_index: dict[str, list[str]] = {}
        doc_chunks: dict[str, list[Chunk]] = {}
        for c in chunks:
            doc_chunks.setdefault(c.doc_id, []).append(c)
            if c.alert_name:
                lst = alert_index.setdefault(c.alert_name.lower(), [])
                if c.doc_id not in lst:
                    lst.append(c.doc_id)
        return cls(
            revision=revision,
            chunks=chunks,
            by_id={c.id: c for c in chunks},
            doc_of_chunk=np.array([pos[c.doc_id] for c in chunks], dtype=np.int64),
            docs=docs,
            lexical=LexicalIndex([c.id for c in chunks], [c.embedding_text() for c in chunks]),
            alert_index=alert_index,
            doc_chunks=doc_chunks,
        )

    def bm25_doc_scores(self, query: str) -> tuple[dict[str, float], dict[str, tuple[str, float]]]:
        """Per-doc best BM25 score, and the best chunk of each doc."""
        scores = self.lexical.scores(query)
        best_doc = np.full(len(self.docs), -1.0, dtype=np.float64)
        np.maximum.at(best_doc, self.doc_of_chunk, scores)
        doc_scores = {self.docs[i]: float(s) for i, s in enumerate(best_doc) if s > 0}
        best_chunk: dict[str, tuple[str, float]] = {}
        for i in np.flatnonzero(scores > 0):
            c = self.chunks[i]
            if c.doc_id not in best_chunk or scores[i] > best_chunk[c.doc_id][1]:
                best_chunk[c.doc_id] = (c.id, float(scores[i]))
        return doc_scores, best_chunk


@dataclass(frozen=True)
class _Vocabulary:
    lexical: LexicalIndex

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.lexical.knows(term)


class KnowledgeBase:
    def __init__(self, client: Any, embedding: MiniLMEmbedding | OpenAIEmbedding, *,
                 calibration: retrieval.Calibration | None = None,
                 min_confidence: float | None = None) -> None:
        self.client = client
        self.embedding = embedding
        self.calibration = calibration or retrieval.default_calibration()
        self.threshold = self.calibration.threshold if min_confidence is None else min_confidence
        self.name = collection_name(embedding)
        self.collection = client.get_or_create_collection(
            self.name,
            embedding_function=embedding,
            configuration={"hnsw": {"space": "cosine"}},
        )
        self._lock = threading.RLock()
        self._snapshot: _Snapshot | None = None
        self._checked_at = 0.0

    @classmethod
    def from_settings(cls, settings: Any) -> KnowledgeBase:
        return cls(
            make_client(settings),
            embedding_from_settings(settings),
            min_confidence=getattr(settings, "kb_min_confidence", None),
        )

    # -- revision and the in-memory snapshot ---------------------------------------------
    def _collection_meta(self, refresh: bool = False) -> dict[str, Any]:
        if refresh:
            self.collection = self.client.get_collection(self.name, embedding_function=self.embedding)
        return dict(self.collection.metadata or {})

    def _bump_revision(self, **extra: Any) -> None:
        meta = self._collection_meta(refresh=True)
        meta.pop("hnsw:space", None)
        meta.update(extra)
        meta[REVISION_KEY] = uuid.uuid4().hex
        self.collection.modify(metadata=meta)

    def snapshot(self) -> _Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked_at < REVISION_CHECK_SECONDS:
                return self._snapshot
            revision = str(self._collection_meta(refresh=self._snapshot is not None).get(REVISION_KEY, ""))
            self._checked_at = now
            if self._snapshot is None or self._snapshot.revision != revision:
                got = self.collection.get(include=["documents", "metadatas"])
                chunks = [
                    _chunk(cid, doc, meta)
                    for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
                ]
                self._snapshot = _Snapshot.build(revision, chunks)
            return self._snapshot

    def _invalidate(self) -> None:
        with self._lock:
            self._snapshot = None

    # -- ingestion ---------------------------------------------------------------------------
    def ingest_folder(self, folder: Path, name: str | None = None,
                      url_template: str | None = None) -> IngestReport:
        corpus, _template, chunks = load_folder(Path(folder), name, url_template)
        cache = vector_cache.load(Path(folder), self.embedding)
        return self.ingest_chunks(corpus, chunks, source=str(Path(folder).resolve()), cache=cache)

    def ingest_chunks(self, corpus: str, chunks: Sequence[Chunk], *, source: str | None = None,
                      cache: dict[str, np.ndarray] | None = None) -> IngestReport:
        """Make the stored corpus equal `chunks`: embed only new or changed chunks, delete the rest."""
        started = time.perf_counter()
        validate_name(corpus)
        with self._lock:
            got = self.collection.get(where={"corpus": corpus}, include=["metadatas"])
            old = {cid: (m or {}).get("hash") for cid, m in zip(got["ids"], got["metadatas"], strict=True)}
            new = {c.id: c for c in chunks}
            if len(new) != len(chunks):
                raise ValueError(f"duplicate chunk ids in corpus {corpus}")
            changed = [c for c in chunks if old.get(c.id) != c.content_hash]
            deleted = [cid for cid in old if cid not in new]
            embedded = 0
            for start in range(0, len(changed), UPSERT_BATCH):
                batch = changed[start : start + UPSERT_BATCH]
                vectors, misses = self._vectors([c.embedding_text() for c in batch], cache or {})
                embedded += misses
                self.collection.upsert(
                    ids=[c.id for c in batch],
                    embeddings=vectors,
                    documents=[c.text for c in batch],
                    metadatas=[_meta(c) for c in batch],
                )
            for start in range(0, len(deleted), UPSERT_BATCH):
                self.collection.delete(ids=deleted[start : start + UPSERT_BATCH])
            if changed or deleted or source:
                extra = {f"source:{corpus}": source} if source else {}
                self._bump_revision(**extra)
                self._invalidate()
        added = sum(1 for c in changed if c.id not in old)
        return IngestReport(
            corpus=corpus,
            documents=len({c.doc_id for c in chunks}),
            chunks=len(chunks),
            added=added,
            updated=len(changed) - added,
            unchanged=len(chunks) - len(changed),
            deleted=len(deleted),
            embedded=embedded,
            seconds=round(time.perf_counter() - started, 3),
        )

    def _vectors(self, texts: list[str], cache: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
        """Vectors from the shipped cache where it has them; the rest embedded now."""
        keys = [vector_cache.text_key(t) for t in texts]
        missing = [i for i, key in enumerate(keys) if key not in cache]
        fresh = self.embedding.embed([texts[i] for i in missing]) if missing else None
        rows: list[np.ndarray] = []
        pos = {i: j for j, i in enumerate(missing)}
        for i, key in enumerate(keys):
            rows.append(fresh[pos[i]] if i in pos else cache[key])  # type: ignore[index]
        return np.vstack(rows).astype(np.float32), len(missing)

    def remove_corpus(self, corpus: str) -> int:
        with self._lock:
            got = self.collection.get(where={"corpus": corpus}, include=[])
            if got["ids"]:
                self.collection.delete(ids=got["ids"])
            self._bump_revision()
            self._invalidate()
        return len(got["ids"])

    def ensure_default_corpus(self) -> IngestReport | None:
        """Ingest the shipped corpus on first use, and bring it up to date when a new triops
        version ships changed runbooks; a corpus the user removed stays removed."""
        folder = default_corpus_dir()
        _, _, chunks = load_folder(folder, DEFAULT_CORPUS)
        digest = hashlib.sha256("".join(sorted(c.content_hash for c in chunks)).encode()).hexdigest()[:16]
        if self._collection_meta().get(SEEDED_KEY) == digest:
            return None
        with self._lock:
            seeded = self._collection_meta(refresh=True).get(SEEDED_KEY)
            if seeded == digest:
                return None
            if seeded and not self.collection.get(where={"corpus": DEFAULT_CORPUS}, limit=1, include=[])["ids"]:
                return None  # removed on purpose
            report = self.ingest_chunks(DEFAULT_CORPUS, chunks, source=str(folder.resolve()),
                                        cache=vector_cache.load(folder, self.embedding))
            self._bump_revision(**{SEEDED_KEY: digest})
        return report

    def corpora(self) -> list[CorpusInfo]:
        snap = self.snapshot()
        meta = self._collection_meta()
        docs: dict[str, set[str]] = {}
        counts: dict[str, int] = {}
        for c in snap.chunks:
            docs.setdefault(c.corpus, set()).add(c.doc_id)
            counts[c.corpus] = counts.get(c.corpus, 0) + 1
        return [
            CorpusInfo(name=n, documents=len(docs[n]), chunks=counts[n], source=meta.get(f"source:{n}"))
            for n in sorted(docs)
        ]

    def document_chunks(self, doc_id: str) -> list[Chunk]:
        return list(self.snapshot().doc_chunks.get(doc_id, []))

    def docs_for_alert(self, alert_name: str) -> list[str]:
        return list(self.snapshot().alert_index.get(alert_name.lower(), []))

    # -- search --------------------------------------------------------------------------------
    def dense_doc_scores(self, query: str, snap: _Snapshot) -> tuple[dict[str, float], dict[str, tuple[str, float]]]:
        n = min(DENSE_CANDIDATES, len(snap.chunks))
        if n == 0:
            return {}, {}
        vec = self.embedding.embed([query])
        res = self.collection.query(query_embeddings=vec, n_results=n, include=["distances"])
        doc_scores: dict[str, float] = {}
        best_chunk: dict[str, tuple[str, float]] = {}
        for cid, dist in zip(res["ids"][0], res["distances"][0], strict=True):
            chunk = snap.by_id.get(cid)
            if chunk is None:  # written by another replica since our snapshot
                continue
            sim = 1.0 - float(dist)
            doc = chunk.doc_id
            if doc not in doc_scores or sim > doc_scores[doc]:
                doc_scores[doc] = sim
                best_chunk[doc] = (cid, sim)
        return doc_scores, best_chunk

    def search(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
               use_alert_names: bool = True) -> RunbookSearchResult:
        query = " ".join((query or "").split())
        if mode not in {"hybrid", "bm25", "dense"}:
            raise ValueError(f"unknown search mode {mode!r}")
        snap = self.snapshot()
        if not query or not snap.chunks:
            return RunbookSearchResult(query=query, found=False, confidence=0.0,
                                       threshold=self.threshold, mode=mode)
        bm25, bm25_best = snap.bm25_doc_scores(query) if mode != "dense" else ({}, {})
        dense, dense_best = self.dense_doc_scores(query, snap) if mode != "bm25" else ({}, {})
        bm25_rank = retrieval.ranking(bm25, min_score=0.0)
        dense_rank = retrieval.ranking(dense)
        rankings = [r for r, used in ((bm25_rank, mode != "dense"), (dense_rank, mode != "bm25")) if used]
        fused = retrieval.rrf(rankings)
        order = retrieval.ranking(fused)
        named = retrieval.verbatim_alert_docs(query, snap.alert_index) if use_alert_names else []
        if named:
            order = named + [d for d in order if d not in named]
        if not order:
            return RunbookSearchResult(query=query, found=False, confidence=0.0,
                                       threshold=self.threshold, mode=mode)
        top = order[0]
        # A query that names an alert no runbook covers gets "none": the nearest runbook is
        # another alert's, and must not be presented as this one's.
        unknown = [] if named else retrieval.unknown_alert_names(query, snap.vocabulary)
        if top in named:
            confidence = 1.0
        else:
            feats = retrieval.confidence_features(top, dense, bm25, dense_rank, bm25_rank)
            confidence = self.calibration.confidence(feats) if mode == "hybrid" else _plain_confidence(mode, feats)
        norm = len(rankings) / (retrieval.RRF_K + 1)
        hits = []
        for rank, doc in enumerate(order[:k], start=1):
            first = snap.doc_chunks[doc][0]
            picks = {x[0] for x in (dense_best.get(doc), bm25_best.get(doc)) if x}
            chosen = sorted(picks, key=lambda cid: snap.by_id[cid].ordinal)
            hits.append(
                RunbookHit(
                    rank=rank,
                    doc_id=doc,
                    title=first.title,
                    alert_name=first.alert_name,
                    corpus=first.corpus,
                    path=first.path,
                    url=first.url,
                    score=round(min(1.0, fused.get(doc, 0.0) / norm), 4),
                    dense_similarity=round(dense[doc], 4) if doc in dense else None,
                    bm25_score=round(bm25[doc], 4) if doc in bm25 else None,
                    alert_name_match=doc in named,
                    snippets=[_snippet(snap.by_id[cid]) for cid in chosen],
                )
            )
        return RunbookSearchResult(
            query=query,
            found=confidence >= self.threshold and not unknown,
            confidence=round(confidence, 4),
            unknown_alerts=unknown,
            threshold=self.threshold,
            mode=mode,
            hits=hits,
        )


def _plain_confidence(mode: str, feats: dict[str, float]) -> float:
    """Single-retriever modes (evaluation only) report their raw top score, uncalibrated."""
    return feats["dense_top"] if mode == "dense" else feats["bm25_share"]


def _snippet(c: Chunk) -> Snippet:
    text = " ".join(c.text.split())
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return Snippet(section=c.heading or "Overview", text=text, chunk_id=c.id)
