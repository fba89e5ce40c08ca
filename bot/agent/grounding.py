"""The grounding guard: every figure in an answer must come from that turn's tool outputs.

A *figure* is a number (with its unit, if any), a date, a clock time, or an identifier that
carries digits (`deploy-4711`, `v2.3.1`, a commit sha, a URL). Evidence is everything the
tools returned in the turn (numbers, list lengths, numbers and dates inside strings), the
arguments they were called with, and the question itself.

A figure is supported when some evidence value equals it after allowing for:
- formatting: 12.5 = 12.50, 1,234 = 1 234 = 1234, 1.2k = 1200, a sign written as a word;
- rounding to the precision the answer shows: 12 % or 12.5 % for 12.46; and, after a hedge
  word (about, ~, roughly…), rounding to its significant figures: "about 1,200" for 1234;
- percent and fractions: 25 % for a `*_rate`/`*_ratio`/`*_share` value of 0.25;
- durations, only when both sides name their unit (a duration is never matched by a bare
  count) (a `*_hours` field, "30d" in a string, or
  "3.5 days" in the answer): 90 min = 1.5 h, 2 days ≈ 50 h at the answer's precision.
Counts (a list of three services → "3 services") are evidence too. Nothing else is
derived: a difference, a sum or a ratio the model worked out is not supported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.agent.injection import looks_like_injection
from bot.agent.models import Grounding

# --- units -----------------------------------------------------------------------------
_SECONDS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000, "y": 31536000}
_UNIT_WORDS = {
    "%": "%", "percent": "%", "per cent": "%", "pct": "%",
    "ms": "ms", "millisecond": "ms", "milliseconds": "ms",
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "min", "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "wks": "w", "week": "w", "weeks": "w",
    "mo": "mo", "month": "mo", "months": "mo",
    "y": "y", "yr": "y", "yrs": "y", "year": "y", "years": "y",
    "k": "k", "K": "k", "thousand": "k", "M": "M", "million": "M",
    "x": "x", "×": "x", "times": "x",
}
_UNIT_ALT = "|".join(sorted((re.escape(u) for u in _UNIT_WORDS), key=len, reverse=True))
_NUMBER_RE = re.compile(
    r"(?<![\w.,/#@:$-])(?P<sign>[-+−])?(?P<int>\d{1,3}(?:,\d{3})+|\d{1,3}(?:[  ]\d{3})+(?![\d.])|\d+)"
    r"(?P<frac>\.\d+|,\d{1,2}(?!\d))?(?![\d])(?:(?P<sp>\s?)(?P<unit>" + _UNIT_ALT + r")(?![A-Za-z]))?"
    r"(?![\w/]|\.\d)"
)
_HEDGE_RE = re.compile(r"(~|≈|\b(?:about|around|approx(?:imately)?|roughly|nearly|almost|some|over|under|more than|less than|at least|at most|close to|up to))\s*$", re.I)
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]) if i >= 2}
_WORD_RE = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)

# --- dates, times, identifiers ------------------------------------------------------------
_ISO_RE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b")
_MONTHS = {m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_MONTH_DAY_RE = re.compile(r"\b" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4}))?", re.I)
_DAY_MONTH_RE = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MON + r"(?:\s+(\d{4}))?\b", re.I)
_TIME_RE = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::\d{2})?(?![\d:])(?:\s*(?:UTC|Z|GMT))?")
_URL_RE = re.compile(r"<?https?://[^\s|>]+(?:\|[^>]*)?>?")
_SLACK_REF_RE = re.compile(r"<[@#!][^>]*>|:[a-z][a-z0-9_+-]*:")
_IDENT_RE = re.compile(r"(?<![\w.-])(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z])[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)+(?![\w-])|\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b")
_RANGE_RE = re.compile(r"(?<=\d)\s*[-–—]\s*(?=\d)")
_LIST_MARKER_RE = re.compile(r"^(\s*)(\d{1,2})[.)](?=\s)", re.M)
_FOOTNOTE_RE = re.compile(r"\[\d{1,2}\]")
_LABEL_RE = re.compile(r"\b(?:p\d{1,3}|\dxx|24/7|[1-5]xx|ipv[46]|k8s|s3|ec2|utf-?8|sha-?\d+|http/\d(?:\.\d)?|dora\s+\d{4})\b", re.I)

_FRACTION_KEYS = ("rate", "ratio", "fraction", "share", "proportion", "probability", "confidence",
                  "score", "accuracy", "precision", "recall", "auc", "f1", "coverage", "pct")
_KEY_UNITS = (
    (re.compile(r"(?:^|_)(?:ms|millis(?:econds)?)$"), "ms"),
    (re.compile(r"(?:^|_)(?:seconds|secs|sec)$"), "s"),
    (re.compile(r"(?:^|_)(?:minutes|mins|min)$"), "min"),
    (re.compile(r"(?:^|_)(?:hours|hrs|hr|h)$"), "h"),
    (re.compile(r"(?:^|_)days$"), "d"),
    (re.compile(r"(?:^|_)weeks$"), "w"),
)


@dataclass(frozen=True)
class Figure:
    text: str
    value: float
    decimals: int
    unit: str | None = None  # "%", a duration unit, or None
    hedged: bool = False


@dataclass(frozen=True)
class Fact:
    value: float
    unit: str | None = None
    fraction: bool = False  # a rate/ratio that may be shown as a percentage


@dataclass
class Evidence:
    """Everything a turn's tools produced, in forms the figures can be compared with."""

    facts: list[Fact] = field(default_factory=list)
    dates: set[tuple[int, int, int]] = field(default_factory=set)
    times: set[tuple[int, int]] = field(default_factory=set)
    text: str = ""  # all strings and keys, lower-case, for identifiers and URLs

    @classmethod
    def build(cls, outputs: Iterable[Any], question: str = "") -> Evidence:
        ev = cls()
        parts: list[str] = []
        for out in outputs:
            ev._walk(out, "", parts)
        ev._add_text(question, parts)
        ev.text = "\n".join(parts).lower()
        return ev

    def _walk(self, value: Any, key: str, parts: list[str]) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            if math.isfinite(value):
                k = key.lower()
                unit = None if "per_" in k else next((u for r, u in _KEY_UNITS if r.search(k)), None)
                if unit is None and ("percent" in k or k.endswith("_pct") or k == "pct"):
                    unit = "%"
                fraction = unit is None and abs(value) <= 1 and any(f in k for f in _FRACTION_KEYS)
                self.facts.append(Fact(float(value), unit, fraction))
            return
        if isinstance(value, dict):
            for k, v in value.items():
                parts.append(str(k))
                self._walk(v, str(k), parts)
            return
        if isinstance(value, list | tuple | set):
            self.facts.append(Fact(float(len(value))))
            for v in value:
                self._walk(v, key, parts)
            return
        if isinstance(value, datetime):
            value = value.isoformat()
        if looks_like_injection(str(value)):  # the model never saw it; it proves nothing
            return
        self._add_text(str(value), parts)

    def _add_text(self, text: str, parts: list[str]) -> None:
        if not text:
            return
        parts.append(text)
        found = extract(text)
        for f in found.numbers:
            unit = f.unit if f.unit in _SECONDS or f.unit == "%" else None
            self.facts.append(Fact(f.value, unit))
        self.dates |= found.dates
        self.dates |= {(0, m, d) for _, m, d in found.dates}
        self.facts.extend(Fact(float(y)) for y, _, _ in found.dates if y)  # "in 2026"
        self.times |= found.times


@dataclass
class Extracted:
    numbers: list[Figure] = field(default_factory=list)
    dates: set[tuple[int, int, int]] = field(default_factory=set)  # (year or 0, month, day)
    date_texts: dict[tuple[int, int, int], str] = field(default_factory=dict)
    times: set[tuple[int, int]] = field(default_factory=set)
    time_texts: dict[tuple[int, int], str] = field(default_factory=dict)
    identifiers: list[str] = field(default_factory=list)


def _blank(text: str, span: tuple[int, int]) -> str:
    return text[: span[0]] + " " * (span[1] - span[0]) + text[span[1] :]


def _number(m: re.Match[str], text: str) -> Figure:
    raw_int = m.group("int").replace(",", "").replace(" ", "").replace(" ", "")
    frac = (m.group("frac") or "").replace(",", ".")  # a decimal comma: "12,5 %"
    value = float(raw_int + frac)
    decimals = len(frac) - 1 if frac else 0
    unit_word = m.group("unit")
    unit = _UNIT_WORDS.get(unit_word) if unit_word else None
    if unit_word == "M" and m.group("sp"):  # "5 M" is more likely a label than a million
        unit = None
    if unit == "x":  # "2x", "3 times": a multiple is a plain number
        unit = None
    if unit in ("k", "M"):
        scale = 1000 if unit == "k" else 1_000_000
        value *= scale
        decimals -= round(math.log10(scale))
        unit = None
    if m.group("sign") in ("-", "−"):
        value = -value
    hedged = bool(_HEDGE_RE.search(text[max(0, m.start() - 20) : m.start()]))
    return Figure(m.group(0).strip(), value, decimals, unit, hedged)


def extract(text: str) -> Extracted:
    """The figures in `text`; each span is consumed once (a date's digits are not numbers)."""
    out = Extracted()
    work = _SLACK_REF_RE.sub(lambda m: " " * len(m.group(0)), text)
    for m in _URL_RE.finditer(work):
        out.identifiers.append(m.group(0).strip("<>").split("|")[0])
        work = _blank(work, m.span())
    for m in _ISO_RE.finditer(work):
        key = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        out.dates.add(key)
        out.date_texts[key] = m.group(0)
        if m.group(4):
            t = (int(m.group(4)), int(m.group(5)))
            out.times.add(t)
            out.time_texts[t] = m.group(0)
        work = _blank(work, m.span())
    for rx, day_group, mon_group, year_group in ((_MONTH_DAY_RE, 2, 1, 3), (_DAY_MONTH_RE, 1, 2, 3)):
        for m in rx.finditer(work):
            day, month = int(m.group(day_group)), _MONTHS[m.group(mon_group).lower()[:3]]
            if not 1 <= day <= 31:
                continue
            key = (int(m.group(year_group)) if m.group(year_group) else 0, month, day)
            out.dates.add(key)
            out.date_texts[key] = m.group(0)
            work = _blank(work, m.span())
    for m in _TIME_RE.finditer(work):
        h, mi = int(m.group(1)), int(m.group(2))
        if h < 24 and mi < 60:
            out.times.add((h, mi))
            out.time_texts[(h, mi)] = m.group(0)
            work = _blank(work, m.span())
    for rx in (_LABEL_RE, _FOOTNOTE_RE):
        work = rx.sub(lambda m: " " * len(m.group(0)), work)
    work = _LIST_MARKER_RE.sub(lambda m: m.group(1) + " " * (len(m.group(0)) - len(m.group(1))), work)
    for m in _IDENT_RE.finditer(work):
        if _NUMBER_RE.fullmatch(m.group(0)):  # "1.2k", "2.5h": a number with its unit
            continue
        out.identifiers.append(m.group(0))
        work = _blank(work, m.span())
    work = _RANGE_RE.sub(" to ", work)  # "2-3 hours": two figures, the second with the unit
    for m in _NUMBER_RE.finditer(work):
        out.numbers.append(_number(m, work))
    for m in _WORD_RE.finditer(work):
        out.numbers.append(Figure(m.group(0), float(_NUMBER_WORDS[m.group(0).lower()]), 0))
    return out


def _close(fig: Figure, candidate: float) -> bool:
    a, v = abs(fig.value), abs(candidate)
    tol = 0.5 * 10.0 ** (-fig.decimals) + 1e-9 * max(1.0, v)
    if abs(a - v) <= tol:
        return True
    if fig.hedged and a > 0:  # "about 1,200": the significant figures the answer shows
        digits = len(str(int(a)).rstrip("0")) if a == int(a) else None
        if digits:
            magnitude = math.floor(math.log10(a))
            step = 10.0 ** (magnitude - digits + 1)
            return abs(round(v / step) * step - a) < 1e-9 * max(1.0, a)
    return False


def _candidates(fig: Figure, fact: Fact) -> list[float]:
    if fig.unit == "%":
        vals = [fact.value]
        if fact.fraction:
            vals.append(fact.value * 100)
        return vals
    if fig.unit in _SECONDS:
        # A duration needs a duration on the tool side: "3 hours" is not "3 failed".
        if fact.unit in _SECONDS:
            return [fact.value * _SECONDS[fact.unit] / _SECONDS[fig.unit]]
        return []
    return [fact.value]


def supported(fig: Figure, evidence: Evidence) -> bool:
    return any(_close(fig, c) for fact in evidence.facts for c in _candidates(fig, fact))


def check(text: str, evidence: Evidence) -> Grounding:
    """The figures of `text` and those that no evidence supports."""
    found = extract(text)
    figures: list[str] = []
    unsupported: list[str] = []
    for fig in found.numbers:
        figures.append(fig.text)
        if not supported(fig, evidence):
            unsupported.append(fig.text)
    for date, raw in found.date_texts.items():
        figures.append(raw)
        if date not in evidence.dates and (0, date[1], date[2]) not in evidence.dates:
            unsupported.append(raw)
    for time_of_day, raw in found.time_texts.items():
        if raw in found.date_texts.values():
            continue
        figures.append(raw)
        if time_of_day not in evidence.times:
            unsupported.append(raw)
    for ident in found.identifiers:
        figures.append(ident)
        if ident.lower().rstrip("/.") not in evidence.text:
            unsupported.append(ident)
    return Grounding(grounded=not unsupported, figures=figures, unsupported=unsupported)


# --- claims: state, existence and cause ------------------------------------------------------
# A state word in the answer must be backed by the same state in a tool output of the turn
# (about the entity the sentence names, when it names one the outputs know). Each state has
# the words that claim it, and what in the outputs ("key: value", lower case) backs the claim
# and its negation ("not drifting").
_STATES: dict[str, tuple[str, str, str]] = {
    "ok": (r"\b(?:ok|okay|healthy|fine|all good|no action needed)\b",
           r"recommendation: keep|status: ok|healthy|: ok\b",
           r"recommendation: (?:retrain|investigate)|status: (?:firing|open)|dataset_drift: true"),
    "drifting": (r"\bdrift(?:ing|ed|s)?\b",
                 r"dataset_drift: true|prediction_drifted: true|n_drifted: [1-9]",
                 r"dataset_drift: false|n_drifted: 0"),
    "retrain": (r"\bretrain(?:ing|ed)?\b", r"recommendation: retrain|retrain", r"recommendation: (?:keep|investigate)"),
    "investigate": (r"\binvestigat(?:e|ing|ion)\b", r"investigate", r"recommendation: (?:keep|retrain)"),
    "open": (r"\b(?:open|firing|ongoing|paging)\b", r"(?:status|state): (?:open|firing)",
             r"(?:status|state): \w|count: 0|total: 0|incidents: \[\]"),
    "resolved": (r"\b(?:resolved|recovered|cleared)\b", r"(?:status|state): (?:resolved|closed)",
                 r"(?:status|state): (?:open|firing)"),
    "level": (r"\b(?:elite|high|medium|low) performers?\b", r"\b(?:elite|high|medium|low)\b", r"level"),
}
_NEGATION_RE = r"\b(?:not|no|isn't|aren't|isn’t|never|without|nothing)\b(?:\W+\w+){0,3}\W+"
_EXISTENCE_RE = re.compile(
    r"(?:does(?:n't| not) exist|no such|not (?:a )?known|unknown (?:service|team|model)|not found|"
    r"(?:is|are) not (?:in|among) the known)", re.I)
_EXISTENCE_EVIDENCE = ("don't know", "do not know", "not found", "unknown", "no such", "not a known", "choices")
_CAUSE_RE = re.compile(r"\b(?:because|caused by|due to|root[- ]cause|the cause|triggered by|as a result of)\b", re.I)
_CAUSE_EVIDENCE = ("cause", "suspect", "probable")
_SENTENCE_RE = re.compile(r"(?<=[.!?;])\s+|\n+")
_ENTITY_KEYS = ("name", "service", "model", "scope", "team", "id", "title")


@dataclass
class ClaimEvidence:
    """The tool outputs of a turn as text ("key: value", lower case), whole and per object."""

    text: str = ""
    objects: list[str] = field(default_factory=list)
    entities: set[str] = field(default_factory=set)  # names of things the outputs are about

    @classmethod
    def build(cls, outputs: Iterable[Any]) -> ClaimEvidence:
        ev = cls()
        for out in outputs:
            ev._walk(out)
        ev.text = "\n".join(ev.objects)
        return ev

    def _walk(self, value: Any) -> str:
        if isinstance(value, dict):
            parts = [f"{k}: {self._walk(v)}" for k, v in value.items()]
            for k, v in value.items():
                if isinstance(v, str) and k.lower() in _ENTITY_KEYS:
                    self.entities.add(v.lower())
            text = "; ".join(parts).lower()
            self.objects.append(text)
            return text
        if isinstance(value, list | tuple):
            return "[" + " | ".join(self._walk(v) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value).lower()


def claims(text: str) -> list[tuple[str, bool, str]]:
    """(kind, negated, sentence) for each state, existence or cause claim in `text`."""
    out: list[tuple[str, bool, str]] = []
    for sentence in (s.strip() for s in _SENTENCE_RE.split(text) if s.strip()):
        low = sentence.lower()
        for state, (rx, _, _) in _STATES.items():
            m = re.search(rx, low)
            if m:
                negated = bool(re.search(_NEGATION_RE + r"$", low[: m.start()]))
                out.append((state, negated, sentence))
        if _EXISTENCE_RE.search(low):
            out.append(("existence", False, sentence))
        if _CAUSE_RE.search(low):
            out.append(("cause", False, sentence))
    return out


def claim_supported(kind: str, negated: bool, sentence: str, ev: ClaimEvidence) -> bool:
    low = sentence.lower()
    if kind == "existence":
        return any(w in ev.text for w in _EXISTENCE_EVIDENCE)
    if kind == "cause":
        return any(w in ev.text for w in _CAUSE_EVIDENCE)
    _, positive, negative = _STATES[kind]
    named = [e for e in ev.entities if len(e) > 2 and re.search(r"(?<![\w-])" + re.escape(e) + r"(?![\w-])", low)]
    pool = [o for o in ev.objects if any(e in o for e in named)] if named else ev.objects
    if negated:  # "not drifting": something says so, and nothing says the opposite
        return any(re.search(negative, o) for o in pool) and not any(re.search(positive, o) for o in pool)
    return any(re.search(positive, o) for o in pool)


def check_claims(text: str, outputs: Iterable[Any]) -> list[str]:
    """The claims of `text` that the tool outputs do not back, as `kind: sentence`."""
    ev = ClaimEvidence.build(outputs)
    return [f"{'not ' if neg else ''}{kind}: {sentence}" for kind, neg, sentence in claims(text)
            if not claim_supported(kind, neg, sentence, ev)]
