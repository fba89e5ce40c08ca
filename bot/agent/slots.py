"""Argument extraction for the planner: services, teams and models known to the store or
catalog (`tools.names`), time windows in plain words, and identifiers — and filling a tool's
input from them.

Filling is driven by the tool's own pydantic input model (field names and types), so a
tool that lands later is filled without code here; an intent may also name its arguments.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from tools.names import KnownNames
from tools.timeutil import format_window

_NUM_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
              "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14,
              "thirty": 30, "ninety": 90, "couple of": 2, "few": 3}
_UNIT = {"hour": "h", "hr": "h", "h": "h", "day": "d", "d": "d", "week": "w", "wk": "w", "w": "w",
         "month": "m", "mo": "m", "m": "m", "year": "y", "yr": "y", "y": "y", "quarter": "q", "fortnight": "f"}
_N = r"(\d+|" + "|".join(sorted(map(re.escape, _NUM_WORDS), key=len, reverse=True)) + r")"
_REL_RE = re.compile(r"\b(?:last|past|previous|over the last|over the past|in the last|within|for the last)?\s*"
                     + _N + r"\s*(hours?|hrs?|days?|weeks?|wks?|months?|mos?|years?|yrs?|quarters?|fortnights?)\b", re.I)
_COMPACT_RE = re.compile(r"\b(\d+)\s?(h|d|w|m|y)\b", re.I)
_THIS_RE = re.compile(r"\b(this|last|past|previous)\s+(hour|day|week|fortnight|month|quarter|year)\b|\b(today|yesterday|tonight|overnight)\b", re.I)
_IDENT_RE = re.compile(r"\b[A-Za-z]+[-_#]?\d+[A-Za-z0-9-]*\b")
_INCIDENT_RE = re.compile(r"(?<![\w-])inc-[0-9a-z]{4,40}(?![\w-])", re.I)
# Alert rule names are CamelCase words: KubePodCrashLooping, HighErrorRate, etcdNoLeader.
_ALERT_RE = re.compile(r"(?<![\w-])(?:[A-Z][a-z0-9]+|[a-z]{3,})(?:[A-Z][A-Za-z0-9]*[a-z0-9]){1,}(?![\w-])")
_MODEL_WORD_RE = re.compile(r"\b([a-z][\w-]*?)(?:'s)?\s+(?:ml\s+)?model\b")
_NOT_A_MODEL = {"the", "a", "an", "this", "that", "our", "my", "your", "their", "ml", "production", "prod",
                "staging", "live", "serving", "current", "any", "each", "every", "which", "what", "all", "new",
                "old", "latest", "champion", "challenger", "same", "whole", "language", "data", "deployed",
                "registered", "other", "intent", "llm", "ai", "one", "best", "last", "first", "is", "of", "for"}
_STATE_RES = (
    ("resolved", re.compile(r"\b(?:resolved|closed|fixed)\b", re.I)),
    ("all", re.compile(r"\b(?:all (?:the )?(?:alerts|incidents)|every (?:alert|incident))\b", re.I)),
)


@dataclass
class Slots:
    """What the planner understood in a question."""

    text: str
    service: str | None = None
    services: list[str] = field(default_factory=list)
    team: str | None = None
    model: str | None = None
    window: str | None = None  # "30d", "12h"…
    window_phrase: str | None = None
    identifier: str | None = None
    incident_id: str | None = None  # inc-…: an alert incident named in the question
    alert_name: str | None = None  # an alert rule name (known to the store, or CamelCase)
    state: str | None = None  # open | resolved | all, when the question says which incidents

    @property
    def scope(self) -> str | None:
        return self.service or self.team

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "question": self.text, "query": self.text,
            "service": self.service, "services": self.services or None, "team": self.team,
            "scope": self.scope, "model": self.model, "window": self.window,
            "identifier": self.identifier, "incident_id": self.incident_id,
            "alert_name": self.alert_name, "state": self.state,
        }


def _window(n: int, unit: str) -> str:
    if unit == "q":
        return f"{90 * n}d"
    if unit == "f":
        return f"{14 * n}d"
    return f"{n}{unit}"


def parse_time_phrase(text: str, now: datetime) -> tuple[str | None, str | None]:
    """('23d', 'this month') — a window length ending now, and the words it came from."""
    m = _THIS_RE.search(text)
    if m:
        phrase = m.group(0)
        word = (m.group(3) or "").lower()
        which, unit = (m.group(1) or "").lower(), (m.group(2) or "").lower()
        if word in ("today", "tonight"):
            return f"{max(1, now.hour + (1 if now.minute else 0))}h", phrase
        if word in ("yesterday", "overnight"):
            return "1d" if word == "overnight" else "2d", phrase
        if which == "this":
            start = {
                "hour": now.replace(minute=0, second=0, microsecond=0),
                "day": now.replace(hour=0, minute=0, second=0, microsecond=0),
                "week": (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0),
                "month": now.replace(day=1, hour=0, minute=0, second=0, microsecond=0),
                "quarter": now.replace(month=3 * ((now.month - 1) // 3) + 1, day=1, hour=0, minute=0, second=0, microsecond=0),
                "year": now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0),
                "fortnight": now - timedelta(days=14),
            }[unit]
            elapsed = now - start
            if unit in ("hour", "day") or elapsed < timedelta(days=1):
                hours = max(1, int(-(-elapsed.total_seconds() // 3600)))
                return f"{hours}h", phrase
            return format_window(timedelta(days=-(-elapsed.total_seconds() // 86400))), phrase
        return _window(1, _UNIT.get(unit, "d")) if unit not in ("hour", "day") else ("1h" if unit == "hour" else "1d"), phrase
    m = _REL_RE.search(text)
    if m and (m.group(0).strip().split()[0].lower() in ("last", "past", "previous", "over", "in", "within", "for")
              or m.group(1).isdigit()):
        raw_n, raw_u = m.group(1).lower(), m.group(2).lower().rstrip("s")
        n = int(raw_n) if raw_n.isdigit() else _NUM_WORDS.get(raw_n, 1)
        unit = _UNIT.get(raw_u, _UNIT.get(raw_u[:2], "d"))
        if n > 0:
            return _window(n, unit), m.group(0).strip()
    m = _COMPACT_RE.search(text)
    if m and int(m.group(1)) > 0:
        return f"{int(m.group(1))}{m.group(2).lower()}", m.group(0)
    return None, None


def _find_names(text: str, named: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(kind, name) of the names mentioned in `text`, in order of appearance.

    Longest names claim their words first ("ranking-api" before "ranking"); '-' and '_' in a
    name also match a space.
    """
    low = text.lower()
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    priority = {"service": 0, "model": 1, "team": 2}  # "payments": the service, not team-payments
    for kind, name in sorted(set(named), key=lambda kn: (-len(kn[1]), priority.get(kn[0], 3), kn[1])):
        variants = {name.lower(), name.lower().replace("-", " "), name.lower().replace("_", " ")}
        for v in variants:
            for m in re.finditer(r"(?<![\w-])" + re.escape(v) + r"(?![\w-])", low):
                if any(a < m.end() and m.start() < b for a, b in taken):
                    continue
                taken.append(m.span())
                found.append((m.start(), kind, name))
    return [(k, n) for _, k, n in sorted(found)]


Vocabulary = KnownNames  # the names the planner recognises in a question (tools.names)


def extract_slots(text: str, vocab: Vocabulary, now: datetime) -> Slots:
    slots = Slots(text=text.strip())
    slots.window, slots.window_phrase = parse_time_phrase(text, now)
    named = [("model", n) for n in vocab.models] + [("service", n) for n in vocab.services]
    named += [("team", t) for t in vocab.teams]
    named += [("team", t.removeprefix("team-")) for t in vocab.teams if t.startswith("team-")]
    found = _find_names(text, named)
    models = [n for k, n in found if k == "model"]
    slots.model = models[0] if models else None
    slots.services = list(dict.fromkeys(n for k, n in found if k == "service"))
    slots.service = slots.services[0] if slots.services else None
    teams = [n for k, n in found if k == "team"]
    if teams:
        slots.team = teams[0] if teams[0] in vocab.teams else f"team-{teams[0]}"
    low = text.lower()
    for name in list(slots.services):  # "the payments team": the team, not the service
        team = next((t for t in (f"team-{name}", name) if t in vocab.teams), None)
        if team and re.search(rf"\b{re.escape(name)}\s+team\b|\bteam\s+{re.escape(name)}\b", low):
            slots.team = slots.team or team
            slots.services.remove(name)
        elif name in vocab.models and re.search(rf"\b{re.escape(name)}\s+(?:ml\s+)?model\b", low):
            slots.model = slots.model or name  # "the ranking model": the model, not the service
            slots.services.remove(name)
        elif (model := vocab.model_services.get(name)) and re.search(rf"\b{re.escape(name)}\s+(?:ml\s+)?model\b", low):
            slots.model = slots.model or model  # the ranking model = the model behind `ranking`
            slots.services.remove(name)
    slots.service = slots.services[0] if slots.services else None
    if slots.model is None and (m := _MODEL_WORD_RE.search(low)) and m.group(1) not in _NOT_A_MODEL:
        word = m.group(1)  # "the fraud model": the one model whose name has that word, else the word
        having = [n for n in vocab.models if word in re.split(r"[-_ ]", n.lower())]
        slots.model = having[0] if len(having) == 1 else word  # unknown: the tool names the known ones
    if m := _INCIDENT_RE.search(text):
        slots.incident_id = m.group(0).lower()
    known_alert = next((n for n in vocab.alerts if re.search(r"(?<![\w-])" + re.escape(n) + r"(?![\w-])", text)), None)
    camel = _ALERT_RE.search(text)
    if known_alert or camel:
        slots.alert_name = known_alert or (camel.group(0) if camel else None)
    for state, rx in _STATE_RES:
        if rx.search(text):
            slots.state = state
            break
    if slots.state is None and slots.window:
        slots.state = "all"  # "incidents from last week": not only the open ones
    masked = text
    for _, name in found:
        masked = re.sub(re.escape(name), " ", masked, flags=re.I)
    m = _IDENT_RE.search(masked)
    if m and m.group(0).lower() not in {s.lower() for s in vocab.services + vocab.teams}:
        slots.identifier = m.group(0)
    return slots


def normalise(text: str, slots: Slots) -> str:
    """The question with its entities replaced by placeholders, for the intent model."""
    out = text.lower()
    if slots.window_phrase:
        out = out.replace(slots.window_phrase.lower(), " WINDOW ")
    if slots.incident_id:
        out = out.replace(slots.incident_id.lower(), " INCIDENT ")
    if slots.alert_name:
        out = out.replace(slots.alert_name.lower(), " ALERT ")
    for value, token in ((slots.model, "MODEL"), (slots.team, "TEAM"), *((s, "SERVICE") for s in slots.services)):
        if value:
            for v in {value.lower(), value.lower().replace("-", " "), value.lower().removeprefix("team-")}:
                out = re.sub(r"(?<![\w-])" + re.escape(v) + r"(?![\w-])", f" {token} ", out)
    return re.sub(r"\s+", " ", out).strip()


# --- filling a tool's input from slots ------------------------------------------------------
_FIELD_SLOTS: dict[str, tuple[str, ...]] = {
    "scope": ("scope",), "service": ("service",), "services": ("services",), "team": ("team",),
    "model": ("model",), "model_name": ("model",), "name": ("model", "identifier"),
    "query": ("query",), "question": ("question",), "text": ("text",), "q": ("query",),
    "window": ("window",), "period": ("window",), "lookback": ("window",), "since": ("window",),
    "id": ("incident_id", "identifier"), "incident_id": ("incident_id", "identifier"),
    "alert": ("alert_name", "identifier"), "alert_name": ("alert_name", "identifier"), "state": ("state",),
}
_SECONDS = {"h": 3600, "d": 86400, "w": 604800, "m": 2592000, "y": 31536000}


def _window_seconds(window: str) -> int:
    return int(window[:-1]) * _SECONDS[window[-1]]


def _coerce(value: Any, annotation: Any, field_name: str, now: datetime) -> Any:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if origin in (typing.Union, types.UnionType) and args else annotation
    if base is bool and isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1", "on")
    if typing.get_origin(base) is list:
        return value if isinstance(value, list) else [value]
    if isinstance(value, list):
        value = value[0] if value else None
    if base is datetime and isinstance(value, str) and value[-1:] in _SECONDS:
        return (now - timedelta(seconds=_window_seconds(value))).isoformat()
    if base in (int, float) and isinstance(value, str) and re.fullmatch(r"\d+(?:\.\d+)?", value):
        return base(float(value)) if base is int else float(value)  # a literal from an intents file
    if base in (int, float) and isinstance(value, str) and value[-1:] in _SECONDS and value[:-1].isdigit():
        unit = 3600 if "hour" in field_name else 60 if "minute" in field_name else 86400
        return base(max(1, _window_seconds(value) // unit))
    return value


_PLACEHOLDER_RE = re.compile(r"\{([^{}]+)\}")


def lookup(ref: str, values: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """One reference: a slot name, or `step.path.to.field` in an earlier step's output
    (list items by index); alternatives separated by '|', the first that has a value wins."""
    for alt in ref.split("|"):
        alt = alt.strip()
        if len(alt) >= 2 and alt[0] == alt[-1] == "'":
            return alt[1:-1]  # a quoted literal: the default when nothing before it has a value
        head, _, rest = alt.partition(".")
        if not rest:
            value = values.get(alt)
        else:
            value = outputs.get(head)
            for part in rest.split("."):
                if isinstance(value, dict):
                    value = value.get(part)
                elif isinstance(value, list) and part.isdigit():
                    value = value[int(part)] if int(part) < len(value) else None
                else:
                    value = None
                if value is None:
                    break
        if value not in (None, "", [], {}) and value is not False:  # False: "not found" is no value
            return value
    return None


def resolve(template: str, values: dict[str, Any], outputs: dict[str, Any]) -> Any:
    """"{slot}" keeps the slot's type; placeholders inside text are joined as words; a
    literal without braces is itself. Nothing resolved -> None (the field is left out)."""
    whole = _PLACEHOLDER_RE.fullmatch(template.strip())
    if whole:
        return lookup(whole.group(1), values, outputs)
    if not _PLACEHOLDER_RE.search(template):
        return template
    found = False

    def sub(m: re.Match[str]) -> str:
        nonlocal found
        v = lookup(m.group(1), values, outputs)
        found = found or v is not None
        return "" if v is None else str(v)

    text = re.sub(r"\s+", " ", _PLACEHOLDER_RE.sub(sub, template)).strip()
    return text if found and text else None


def fill_args(
    input_model: type[BaseModel],
    slots: Slots,
    mapping: dict[str, str | None] | None,
    now: datetime,
    outputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Arguments for a tool: an intent's explicit mapping (slots, earlier outputs, literals;
    `null` = never fill this field), else by field name and type."""
    values = slots.as_dict()
    outputs = outputs or {}
    args: dict[str, Any] = {}
    hints = typing.get_type_hints(input_model)
    for name, info in input_model.model_fields.items():
        if mapping is not None and name in mapping:
            ref = mapping[name]
            if ref is None:
                continue
            value = resolve(ref, values, outputs)
        else:
            value = None
            candidates = _FIELD_SLOTS.get(name)
            if candidates is None:
                for key in ("hours", "days", "minutes"):
                    if name.endswith(key) or name.startswith(key):
                        candidates = ("window",)
            for slot in candidates or ():
                if values.get(slot) is not None:
                    value = values[slot]
                    break
        if value is None:
            continue
        args[name] = _coerce(value, hints.get(name, info.annotation), name, now)
    return args


def missing_required(input_model: type[BaseModel], args: dict[str, Any]) -> list[str]:
    """Required fields the slots could not fill: the step is skipped, not called to fail."""
    return [n for n, f in input_model.model_fields.items() if f.is_required() and n not in args]
