"""BM25 over chunk texts (bm25s), with a tokenizer that splits alert-style identifiers.

`KubePodCrashLooping` is indexed as itself and as `kube pod crash loop`, so a query that
names the alert and one that describes it in words both match.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from knowledge.models import split_identifier

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+(?:\.\d+)?")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
_STOP = set(STOPWORDS_EN) | {"via", "e.g", "i.e"}


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to match failing/failed/failures, pods/pod."""
    for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


@lru_cache(maxsize=200_000)
def _word_tokens(raw: str) -> tuple[str, ...]:
    low = raw.lower()
    if raw[1:] == low[1:] and "_" not in raw:  # a plain word: no identifier to split
        return (stem(low),) if low not in _STOP and len(low) > 1 else ()
    parts = split_identifier(raw).lower().split()
    out = [low] if len(parts) > 1 else []  # the identifier whole, as an alert name is typed
    out += [stem(p) for p in parts if p not in _STOP and len(p) > 1]
    return tuple(out)


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for raw in _WORD.findall(text):
        tokens.extend(_word_tokens(raw))
    return tokens


class LexicalIndex:
    """BM25 scores for every chunk; built in memory from the stored chunk texts."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.ids = list(ids)
        self._bm25 = bm25s.BM25()
        corpus = [tokenize(t) or ["_empty_"] for t in texts]
        if corpus:
            self._bm25.index(corpus, show_progress=False)

    def knows(self, term: str) -> bool:
        """Whether any chunk contains this (lower-cased) token."""
        return term in self._bm25.vocab_dict if self.ids else False

    def scores(self, query: str) -> np.ndarray:
        if not self.ids:
            return np.zeros(0, dtype=np.float32)
        tokens = [t for t in tokenize(query) if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
