"""The demo scenario: one place that builds a realistic, seeded world for demo, tests and evals.

`build_scenario(seed, now)` returns plain pydantic events; `load_scenario(store, scenario)`
writes them. Each domain adds its step as a module here (topology, delivery, …) and one
call in each of the two functions below.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tools.catalog import ServiceCatalog
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.scenario import alerts, delivery, topology
from tools.scenario import models as ml_models
from tools.timeutil import utc

if TYPE_CHECKING:
    from tools.alerts.models import Alert
    from tools.store import Store


def scenario_version() -> str:
    """A digest of this package's code: a store seeded by another version is seeded again."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Scenario:
    seed: int
    now: datetime
    catalog: ServiceCatalog
    deployments: list[DeploymentEvent] = field(default_factory=list)
    incidents: list[IncidentEvent] = field(default_factory=list)
    # The recent bad deployment that later steps (alert storm, drift) build on.
    bad_deployment: DeploymentEvent | None = None
    models: ml_models.ModelsPart | None = None
    alerts: list[Alert] = field(default_factory=list)  # alert notifications


def build_scenario(seed: int = 7, now: datetime | None = None, days: int = 90) -> Scenario:
    now = utc(now) if now else utc(datetime(2026, 11, 20, 12, 0))
    rng = np.random.default_rng(seed)
    sc = Scenario(seed=seed, now=now, catalog=topology.catalog())
    delivery.build(sc, rng, days=days)
    sc.models = ml_models.build(sc, np.random.default_rng([seed, 5]))
    sc.alerts = alerts.build_storm(sc, np.random.default_rng([seed, 4]))  # own stream: steps stay independent
    return sc


def load_scenario(store: Store, scenario: Scenario) -> None:
    """Write the scenario into an empty store. A second load into the same store repeats
    deliveries, models and drift checks idempotently but adds history (alias changes, an
    alert re-joining its incident): wipe first to re-seed, as the demo does."""
    from tools.store.delivery import upsert_deployments, upsert_incidents

    with store.engine.begin() as conn:
        upsert_deployments(conn, scenario.deployments)
        upsert_incidents(conn, scenario.incidents)
    if scenario.models is not None:
        ml_models.load(store, scenario.models)
    if scenario.alerts:  # through the same pipeline as the webhooks: stored, then correlated
        from tools.alerts.pipeline import AlertPipeline

        with AlertPipeline(store, scenario.catalog, clock=lambda: scenario.now) as pipeline:
            pipeline.ingest(scenario.alerts)
