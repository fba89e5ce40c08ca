"""The per-intent choice learned from `triops eval agent --llm`, kept as the default.

The rule is that the planner is never worse off for having an LLM configured. The eval
measures, per intent, whether the configured model answers at least as correctly as the
planner; each verdict is stored in TRIOPS_HOME for the (endpoint, model) it was measured on,
merged intent by intent, and the assistant routes the intents the model lost to the planner.
An intent never measured stays with the LLM, behind the grounding guard, except under an
entry the previous version wrote ({"intents": [...]}, the intents the model may answer): there
an intent it did not list stays with the planner until an eval measures it. TRIOPS_LLM_INTENTS
overrides it all (`all` lets the model answer every intent, `none` none, a list only those):
it is the way to pin one choice on replicas whose TRIOPS_HOME differ.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.settings import Settings

log = logging.getLogger("triops.agent")
FILE = "llm_intents.json"
# the file is consulted on every question: re-read only when its stat changes
_cache: dict[Path, tuple[tuple[int, int, int], dict[str, Any]]] = {}


@dataclass(frozen=True)
class Choice:
    """`only`: the setting's list (every other intent to the planner); `declined`: the
    intents the eval found the planner more correct on."""

    only: frozenset[str] | None = None
    declined: frozenset[str] = frozenset()

    def allows(self, intent: str | None) -> bool:
        return intent not in self.declined and (self.only is None or intent in self.only)


def key(settings: Settings) -> str:
    return f"{settings.openai_base_url or 'https://api.openai.com/v1'}|{settings.llm_model}"


def path_of(settings: Settings) -> Path:
    return settings.home / FILE


def _read(path: Path) -> dict[str, Any]:
    try:
        st = path.stat()
    except OSError:
        _cache.pop(path, None)
        return {}
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    hit = _cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # a hand-edited file: said once, and no learned choice
        log.warning("ignoring %s: %s", path, exc)
        data = {}
    data = data if isinstance(data, dict) else {}
    _cache[path] = (stamp, data)
    return data


def save(settings: Settings, verdicts: dict[str, bool], cases: dict[str, int]) -> Path:
    """Merges the eval's verdicts (intent → the model at least as correct as the planner) into
    the stored ones: an intent this eval did not cover keeps its earlier verdict."""
    path = path_of(settings)
    data = dict(_read(path))
    entry = data.get(key(settings))
    old = entry.get("verdicts") if isinstance(entry, dict) else None
    merged = {i: v for i, v in (old or {}).items() if isinstance(v, dict)}
    now = datetime.now(UTC).isoformat(timespec="seconds")
    for intent, ok in verdicts.items():
        merged[intent] = {"llm": ok, "cases": cases.get(intent, 0), "measured_at": now}
    data[key(settings)] = {"model": settings.llm_model, "verdicts": merged}
    only = legacy(entry)
    if only is not None:  # kept: the intents it did not list stay with the planner until measured
        data[key(settings)]["intents"] = sorted(only)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)  # a new inode: a reader's cache sees the change
    return path


def _entry(settings: Settings) -> Any:
    return _read(path_of(settings)).get(key(settings))


def legacy(entry: Any) -> frozenset[str] | None:
    """The previous version's list of the intents the model may answer; None when absent."""
    intents = entry.get("intents") if isinstance(entry, dict) else None
    return frozenset(str(i) for i in intents) if isinstance(intents, list) else None


def learned(settings: Settings) -> dict[str, bool] | None:
    """The stored verdicts for the configured endpoint and model; None when never measured
    (a previous version's list, with no verdicts, reads as a verdict for each intent it lists)."""
    entry = _entry(settings)
    verdicts = entry.get("verdicts") if isinstance(entry, dict) else None
    if not isinstance(verdicts, dict):
        only = legacy(entry)
        return None if only is None else dict.fromkeys(sorted(only), True)
    return {str(i): bool(v.get("llm")) for i, v in verdicts.items() if isinstance(v, dict)}


def current(settings: Settings) -> Choice | None:
    """Which intents the LLM may answer: TRIOPS_LLM_INTENTS, else the eval's verdicts; None: all."""
    chosen = settings.llm_intents
    if chosen is not None:
        return None if "all" in chosen else Choice(only=frozenset(chosen - {"none"}))
    verdicts = learned(settings) or {}
    declined = frozenset(i for i, ok in verdicts.items() if not ok)
    only = legacy(_entry(settings))  # an intent it did not list and no eval measured: the planner
    if only is not None:
        return Choice(only=only | {i for i, ok in verdicts.items() if ok}, declined=declined)
    return Choice(declined=declined) if declined else None
