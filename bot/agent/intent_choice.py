"""The per-intent choice learned from `triops eval agent --llm`, kept as the default.

The rule is that the planner is never worse off for having an LLM configured. The eval
measures, per intent, whether the configured model answers at least as correctly as the
planner; that list is stored in TRIOPS_HOME for the (endpoint, model) it was measured on,
and the assistant routes every other intent to the planner. TRIOPS_LLM_INTENTS overrides it
(`all` lets the model answer every intent, `none` none). Before any eval of the model the
LLM answers every intent, behind the grounding guard.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from tools.settings import Settings

log = logging.getLogger("triops.agent")
FILE = "llm_intents.json"


def _key(settings: Settings) -> str:
    return f"{settings.openai_base_url or 'https://api.openai.com/v1'}|{settings.llm_model}"


def _path(settings: Settings) -> Path:
    return settings.home / FILE


def _read(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # a hand-edited file: said, and no learned choice
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def save(settings: Settings, intents: list[str], cases: int) -> Path:
    """Records the intents the eval found the model at least as correct on as the planner."""
    path = _path(settings)
    data = _read(path)
    data[_key(settings)] = {"model": settings.llm_model, "intents": sorted(intents), "cases": cases,
                            "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def learned(settings: Settings) -> set[str] | None:
    """The stored choice for the configured endpoint and model; None when it was never measured."""
    entry = _read(_path(settings)).get(_key(settings))
    if not isinstance(entry, dict) or not isinstance(entry.get("intents"), list):
        return None
    return {str(i) for i in entry["intents"]}


def allowed_intents(settings: Settings) -> set[str] | None:
    """The intents the LLM may answer: TRIOPS_LLM_INTENTS, else the eval's choice; None: all."""
    chosen = settings.llm_intents
    if chosen is not None:
        if "all" in chosen:
            return None
        return chosen - {"none"}
    return learned(settings)
