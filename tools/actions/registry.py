"""Every action triops can run (after approval), by tool name. Modules load on first use."""

from __future__ import annotations

import importlib
from functools import cache

from tools.actions.base import ActionSpec

MODULES = ["silence", "pagerduty", "opsgenie", "github", "webhook", "kubernetes", "mlflow", "retrain"]


@cache
def specs() -> dict[str, ActionSpec]:
    out: dict[str, ActionSpec] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(f"tools.actions.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"tools.actions.{name}":
                continue  # not shipped (yet)
            raise
        for spec in module.SPECS:
            out[spec.name] = spec
    return out


def spec(name: str) -> ActionSpec | None:
    return specs().get(name)
