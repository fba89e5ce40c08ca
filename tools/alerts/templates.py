"""A streaming log/alert message template miner in the spirit of Drain (He et al., ICWS 2017).

Messages are masked (numbers, hex, IPs, paths, quoted values), tokenised, and routed by
token count and the first tokens to a small leaf of clusters; the message joins the most
similar cluster above `similarity`, whose template then turns differing tokens into `<*>`.
Exact repeats of a masked message hit a cache, so the common case is one dict look-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WILDCARD = "<*>"

# Numbers, IPs, hex ids and UUIDs need no mask of their own: a token holding a digit is a
# variable anyway. Paths do: `/var/lib/x` and `/etc/y` differ without a digit.
_PATH = re.compile(r"(?<![\w/])(?:/[\w.\-@~]+){2,}/?")
_SPLIT = re.compile(r"[\s,;=]+")
_HAS_DIGIT = re.compile(r"\d")


def mask(message: str) -> str:
    return _PATH.sub("<PATH>", message) if "/" in message else message


def tokenize(message: str) -> list[str]:
    """Mask paths, split on blanks and punctuation; a token holding a digit is a variable."""
    has_digit = _HAS_DIGIT.search
    return [WILDCARD if has_digit(tok) else tok for tok in _SPLIT.split(mask(message)) if tok]


@dataclass
class Template:
    id: int
    tokens: list[str]
    size: int = 1

    @property
    def text(self) -> str:
        return " ".join(self.tokens)


@dataclass
class TemplateMiner:
    """`add(message) -> template id`; ids are stable: a cluster keeps its id as it generalises."""

    similarity: float = 0.7
    depth: int = 2  # leading tokens used to route a message (Drain's tree depth - 2)
    max_children: int = 100
    cache_size: int = 200_000
    templates: list[Template] = field(default_factory=list)
    _tree: dict[tuple, list[int]] = field(default_factory=dict)
    _cache: dict[str, int] = field(default_factory=dict)

    def add(self, message: str) -> int:
        cached = self._cache.get(message)
        if cached is not None:
            self.templates[cached].size += 1
            return cached
        tokens = tokenize(message)
        leaf = self._tree.setdefault(self._route(tokens), [])
        best, best_sim = -1, -1.0
        for tid in leaf:
            sim = _similarity(self.templates[tid].tokens, tokens)
            if sim > best_sim:
                best, best_sim = tid, sim
        if best >= 0 and best_sim >= self.similarity:
            tpl = self.templates[best]
            tpl.tokens = [a if a == b else WILDCARD for a, b in zip(tpl.tokens, tokens, strict=True)]
            tpl.size += 1
        else:
            best = len(self.templates)
            self.templates.append(Template(id=best, tokens=tokens))
            leaf.append(best)
        if len(self._cache) < self.cache_size:
            self._cache[message] = best
        return best

    def match(self, message: str) -> int | None:
        """The id of the template a message belongs to, without learning from it."""
        cached = self._cache.get(message)
        if cached is not None:
            return cached
        tokens = tokenize(message)
        for tid in self._tree.get(self._route(tokens), []):
            if _similarity(self.templates[tid].tokens, tokens) >= self.similarity:
                return tid
        return None

    def template(self, tid: int) -> str:
        return self.templates[tid].text

    def _route(self, tokens: list[str]) -> tuple:
        return (len(tokens), *tokens[: self.depth])


def _similarity(template: list[str], tokens: list[str]) -> float:
    """Share of positions where the template's constant token equals the message's."""
    if not tokens:
        return 1.0
    same = 0
    for a, b in zip(template, tokens, strict=True):
        if a in (b, WILDCARD):
            same += 1
    return same / len(tokens)
