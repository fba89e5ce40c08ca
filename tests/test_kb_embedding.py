import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from chromadb.utils.embedding_functions import known_embedding_functions

from knowledge import vector_cache
from knowledge.embedding import (
    EmbeddingModelError,
    MiniLMEmbedding,
    OpenAIEmbedding,
    mean_pool_normalise,
)
from knowledge.sources import default_corpus_dir, load_folder
from tests.kb_fixtures import shared_embedding


def test_shape_norm_and_similarity_order():
    emb = shared_embedding()
    v = emb.embed([
        "The pod keeps crashing and restarting",
        "Container is stuck in CrashLoopBackOff after every restart",
        "etcd database has exceeded its storage quota",
    ])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2] + 0.2


def test_padding_to_the_longest_input_does_not_change_a_vector():
    emb = shared_embedding()
    short = "disk almost full"
    alone = emb.embed([short])[0]
    batched = emb.embed([short, "a much longer sentence " * 20])[0]
    assert np.allclose(alone, batched, atol=1e-4)
    assert emb.embed([]).shape == (0, 384)


def test_mean_pooling_ignores_padding_by_hand():
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    assert np.allclose(mean_pool_normalise(hidden, mask), [[1.0, 0.0]])


def test_checksum_refuses_a_wrong_model_file(tmp_path: Path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not the model")
    with pytest.raises(EmbeddingModelError, match="sha256"):
        MiniLMEmbedding(model_path=str(bad)).load()
    with pytest.raises(EmbeddingModelError, match="not found"):
        MiniLMEmbedding(model_path=str(tmp_path / "missing.onnx")).load()


def test_registered_with_chroma_and_cheap_to_rebuild():
    assert known_embedding_functions["triops-minilm-l6-int8"] is MiniLMEmbedding
    assert known_embedding_functions["triops-openai"] is OpenAIEmbedding
    ef = MiniLMEmbedding.build_from_config(shared_embedding().get_config())
    assert isinstance(ef, MiniLMEmbedding) and ef._session is None  # loads on first use only
    assert "api_key" not in json.dumps(OpenAIEmbedding("m", api_key="sk-secret").get_config())


def test_openai_compatible_endpoint_wire_format():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.update(url=str(request.url), auth=request.headers.get("authorization"), body=body)
        data = [{"object": "embedding", "index": i, "embedding": [float(i + 1), 0.0, 0.0]}
                for i in range(len(body["input"]))]
        return httpx.Response(200, json={"object": "list", "data": list(reversed(data)), "model": body["model"]})

    ef = OpenAIEmbedding("text-embedding-3-small", api_key="sk-test", base_url="http://llm.local/v1/",
                         transport=httpx.MockTransport(handler))
    v = ef.embed(["a", "b"])
    assert seen["url"] == "http://llm.local/v1/embeddings"
    assert seen["auth"] == "Bearer sk-test"
    assert seen["body"] == {"model": "text-embedding-3-small", "input": ["a", "b"]}
    assert np.allclose(v, [[1, 0, 0], [1, 0, 0]])

    failing = OpenAIEmbedding("m", transport=httpx.MockTransport(lambda r: httpx.Response(401, text="bad key")))
    with pytest.raises(EmbeddingModelError, match="401"):
        failing.embed(["x"])


def test_shipped_vector_cache_is_current_and_true():
    emb = shared_embedding()
    folder = default_corpus_dir()
    _, _, chunks = load_folder(folder)
    cache = vector_cache.load(folder, emb)
    texts = [c.embedding_text() for c in chunks]
    missing = [t[:60] for t in texts if vector_cache.text_key(t) not in cache]
    assert not missing, "regenerate: python -m knowledge.vector_cache knowledge/corpus/prometheus-operator"
    sample = texts[::40]
    fresh = emb.embed(sample)
    cached = np.vstack([cache[vector_cache.text_key(t)] for t in sample])
    assert np.allclose(fresh, cached, atol=2e-3)
    assert vector_cache.load(folder, MiniLMEmbedding(expected_sha256="0" * 64)) == {}


def test_openai_embeddings_when_configured_get_their_own_collection():
    from knowledge.embedding import embedding_from_settings
    from knowledge.index import collection_name
    from tools.settings import Settings

    local = embedding_from_settings(Settings())
    remote = embedding_from_settings(Settings(TRIOPS_EMBEDDINGS="openai", OPENAI_API_KEY="sk-x",
                                              OPENAI_BASE_URL="http://127.0.0.1:9/v1"))
    assert isinstance(local, MiniLMEmbedding) and isinstance(remote, OpenAIEmbedding)
    assert remote.base_url == "http://127.0.0.1:9/v1" and remote.model == "text-embedding-3-small"
    assert collection_name(local) != collection_name(remote)
