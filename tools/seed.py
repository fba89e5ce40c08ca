"""Writing known facts straight into the store: the eval world, demos and tests.

The webhooks and file ingest validate and then land in the same places; these take events
already built as domain models, so a world with hand-known answers needs no files or HTTP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from tools.store.delivery import upsert_deployments, upsert_incidents
from tools.store.models import save_window, upsert_models

if TYPE_CHECKING:
    import pandas as pd

    from tools.delivery.models import DeploymentEvent, IncidentEvent
    from tools.mlops.schemas import ModelIn
    from tools.persistence import Store


def record_delivery(store: Store, deployments: Sequence[DeploymentEvent],
                    incidents: Sequence[IncidentEvent] = ()) -> None:
    """Deployments and the incidents they caused, in one transaction."""
    with store.engine.begin() as conn:
        upsert_deployments(conn, list(deployments))
        upsert_incidents(conn, list(incidents))


def record_model_events(store: Store, events: Iterable[tuple[ModelIn, float]]) -> int:
    """Registry events in order, each with its epoch time (as a registry would send them);
    returns how many versions were written."""
    written = 0
    with store.engine.begin() as conn:
        for model, at in events:
            written += upsert_models(conn, [model], at)
    return written


def log_feature_window(store: Store, model: str, label: str, frame: pd.DataFrame, at: float,
                       *, start: float | None = None, end: float | None = None) -> None:
    """A window of a model's logged inputs (what drift compares), labelled e.g. 'reference'."""
    with store.engine.begin() as conn:
        save_window(conn, model, label, frame, at, start=start, end=end)


__all__ = ["log_feature_window", "record_delivery", "record_model_events"]
