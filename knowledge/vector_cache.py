"""Precomputed embeddings shipped beside a corpus, so first use does not wait for the model.

Embedding the default corpus takes about 10 s on 2 cores; a newcomer's first `triops demo`
should not. The cache maps sha256(embedding text) -> vector and records the model file's
sha256: an edited chunk misses the cache and is embedded as usual, and a different model
ignores the cache entirely. Regenerate after editing a corpus:

    python -m knowledge.vector_cache knowledge/corpus/prometheus-operator
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

from knowledge.embedding import MiniLMEmbedding
from knowledge.models import Chunk

CACHE_FILE = "embeddings.minilm-l6-int8.npz"


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(folder: Path, embedding: object) -> dict[str, np.ndarray]:
    """The folder's cache if it was made by this very model file, else empty."""
    f = Path(folder) / CACHE_FILE
    if not isinstance(embedding, MiniLMEmbedding) or not f.is_file():
        return {}
    try:
        with np.load(f, allow_pickle=False) as data:
            if str(data["model_sha256"]) != embedding.expected_sha256:
                return {}
            keys, vectors = data["keys"], data["vectors"]
    except (OSError, KeyError, ValueError):
        return {}  # a damaged cache only costs time
    return {str(k): v for k, v in zip(keys, vectors, strict=True)}


def write(folder: Path, chunks: list[Chunk], embedding: MiniLMEmbedding) -> Path:
    texts = list(dict.fromkeys(c.embedding_text() for c in chunks))
    vectors = embedding.embed(texts)
    f = Path(folder) / CACHE_FILE
    np.savez_compressed(
        f,
        keys=np.array([text_key(t) for t in texts]),
        vectors=vectors.astype(np.float32),
        model_sha256=np.array(embedding.expected_sha256),
    )
    return f


def main(argv: list[str]) -> None:
    from knowledge.sources import load_folder

    folder = Path(argv[0]) if argv else Path(__file__).parent / "corpus" / "prometheus-operator"
    _, _, chunks = load_folder(folder)
    out = write(folder, chunks, MiniLMEmbedding())
    print(f"wrote {out} ({len(chunks)} chunks)")


if __name__ == "__main__":
    main(sys.argv[1:])
