"""Data and prediction drift: pure statistics (stats), per-column engine, result models."""

from tools.drift.engine import DriftInputError, compute_drift
from tools.drift.models import DriftConfig, DriftReport, FeatureDrift

__all__ = ["DriftConfig", "DriftInputError", "DriftReport", "FeatureDrift", "compute_drift"]
