"""Tool calls that small models write as text, and names that almost match the registry.

Small open models served by llama.cpp, Ollama or vLLM often answer a tool-using turn with
the call *written out* instead of a structured `tool_calls` entry: a JSON object in the
content, a `<tool_call>` block (Qwen, Hermes), a fenced ```json block, or a list of those.
Posting that text to the user is never right. `parse` finds such calls; `resolve` maps a
near-miss tool name (`dora_metric`, `DoraMetrics`) and argument names (`service` for
`scope`) onto the registry, or says what the choices were. Pure functions: the loop
decides what to do with the result.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S | re.I)
_FENCE_RE = re.compile(r"```(?:json|tool_call|tool|javascript)?\s*\n?(.*?)```", re.S | re.I)
_NAME_KEYS = ("name", "tool", "tool_name", "function", "action")
_ARG_KEYS = ("arguments", "args", "parameters", "params", "input", "tool_input", "action_input")


@dataclass(frozen=True)
class TextCall:
    name: str
    args: dict[str, Any]


def _objects(text: str) -> list[Any]:
    """Every top-level JSON value that can be decoded from `text`, left to right."""
    dec = json.JSONDecoder()
    out: list[Any] = []
    i = 0
    while i < len(text):
        j = min((k for k in (text.find("{", i), text.find("[", i)) if k >= 0), default=-1)
        if j < 0:
            break
        try:
            value, end = dec.raw_decode(text, j)
        except ValueError:
            i = j + 1
            continue
        out.append(value)
        i = end
    return out


def _as_call(value: Any) -> TextCall | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("function"), dict):  # {"type": "function", "function": {...}}
        return _as_call(value["function"])
    name = next((value[k] for k in _NAME_KEYS if isinstance(value.get(k), str)), None)
    if not name:
        return None
    args: Any = next((value[k] for k in _ARG_KEYS if k in value), None)
    if isinstance(args, str):  # arguments as a JSON string, the OpenAI wire shape
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if args is None:  # {"name": "x", "scope": "checkout"}: the rest are the arguments
        args = {k: v for k, v in value.items() if k not in _NAME_KEYS and k != "type"}
    if not isinstance(args, dict):
        return None
    return TextCall(name=name.strip(), args=args)


def _calls_in(values: list[Any]) -> list[TextCall]:
    out: list[TextCall] = []
    for v in values:
        if isinstance(v, dict) and isinstance(v.get("tool_calls"), list):
            v = v["tool_calls"]
        items = v if isinstance(v, list) else [v]
        for item in items:
            c = _as_call(item)
            if c is not None:
                out.append(c)
    return out


def parse(text: str) -> list[TextCall]:
    """The tool calls written in `text` (empty when it is prose)."""
    if not text or ("{" not in text and "[" not in text):
        return []
    for rx in (_TAG_RE, _FENCE_RE):
        blocks = [m.group(1) for m in rx.finditer(text)]
        found = _calls_in([v for b in blocks for v in _objects(b)])
        if found:
            return found
    return _calls_in(_objects(text))


def looks_like_payload(text: str) -> bool:
    """True when the text is (mostly) a tool-call or JSON payload rather than prose for a person."""
    stripped = text.strip()
    if not stripped:
        return False
    if parse(stripped) or re.search(r"</?tool_call>|<\|im_start\|>|<\|im_end\|>|<\|eot_id\|>", stripped):
        return True
    values = _objects(stripped)
    if values and stripped[0] in "{[":
        payload = json.dumps(values)
        return len(payload) >= 0.6 * len(stripped)
    return False


def _key(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_")


def closest(name: str, choices: list[str], cutoff: float = 0.8) -> str | None:
    """The one choice `name` plainly means: equal after normalising case and separators,
    a singular/plural or prefix variant, or a close spelling; None when unsure."""
    if name in choices:
        return name
    key = _key(name)
    normal = {_key(c): c for c in choices}
    if key in normal:
        return normal[key]
    for variant in (key + "s", key.rstrip("s")):
        if variant in normal:
            return normal[variant]
    grown = [c for k, c in normal.items() if k.startswith(key + "_") or key.startswith(k + "_")]
    if len(grown) == 1 and len(key) >= 4:
        return grown[0]
    close = difflib.get_close_matches(key, list(normal), n=2, cutoff=cutoff)
    if len(close) == 1 or (len(close) == 2 and difflib.SequenceMatcher(None, key, close[0]).ratio()
                           > difflib.SequenceMatcher(None, key, close[1]).ratio() + 0.05):
        return normal[close[0]]
    return None


# argument names models use for the same thing; mapped only onto a property the tool has
_ARG_SYNONYMS = {
    "service": ("scope", "service_name", "name"),
    "service_name": ("service", "scope"),
    "scope": ("service", "team"),
    "team": ("scope",),
    "time_window": ("window",),
    "period": ("window",),
    "timeframe": ("window",),
    "time_range": ("window",),
    "days": ("window",),
    "query": ("q", "text", "question"),
    "q": ("query",),
    "search": ("query",),
    "incident": ("id", "incident_id"),
    "incident_id": ("id",),
    "model_name": ("model",),
}


@dataclass
class Resolved:
    name: str | None  # the registry name, or None when no tool plainly matches
    args: dict[str, Any] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)  # what was mapped: old → new
    dropped: list[str] = field(default_factory=list)  # arguments no property matches

    @property
    def changed(self) -> bool:
        return bool(self.renamed or self.dropped)


def resolve(name: str, args: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> Resolved:
    """Map `name` and its argument names onto `schemas` ({tool: JSON schema})."""
    target = closest(name, sorted(schemas))
    if target is None:
        return Resolved(name=None, args=dict(args))
    props = list((schemas[target].get("properties") or {}).keys())
    out: dict[str, Any] = {}
    renamed: dict[str, str] = {} if target == name else {name: target}
    dropped: list[str] = []
    for k, v in args.items():
        if k in props:
            out.setdefault(k, v)
            continue
        new = closest(k, props, cutoff=0.85) or next(
            (p for p in _ARG_SYNONYMS.get(_key(k), ()) if p in props and p not in args), None)
        if new is None or new in out:
            dropped.append(k)
            continue
        if new == "window" and isinstance(v, int | float) and not isinstance(v, bool):
            v = f"{int(v)}d"  # {"days": 30} → window "30d"
        out[new] = v
        renamed[k] = new
    return Resolved(name=target, args=out, renamed=renamed, dropped=dropped)
