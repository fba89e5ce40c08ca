"""Data and prediction drift: pure statistics (stats), per-column engine, result models.

The names load on first use (PEP 562): importing `tools.drift.models` for an input model
must not pull scipy and pandas into a CLI that only prints help.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tools.drift.engine import DriftInputError, compute_drift
    from tools.drift.models import DriftConfig, DriftReport, FeatureDrift

__all__ = ["DriftConfig", "DriftInputError", "DriftReport", "FeatureDrift", "compute_drift"]

_WHERE = {"DriftInputError": "engine", "compute_drift": "engine", "DriftConfig": "models",
          "DriftReport": "models", "FeatureDrift": "models"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'tools.drift' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tools.drift.{_WHERE[name]}"), name)
