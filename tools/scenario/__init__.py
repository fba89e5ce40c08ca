"""The demo scenario: one place that builds a realistic, seeded world for demo, tests and evals.

`build_scenario(seed, now)` returns plain pydantic events; `load_scenario(store, scenario)`
writes them. Each domain adds its step as a module here (topology, delivery, …) and one
call in each of the two functions below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from tools.catalog import ServiceCatalog
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.scenario import delivery, topology
from tools.timeutil import utc


@dataclass
class Scenario:
    seed: int
    now: datetime
    catalog: ServiceCatalog
    deployments: list[DeploymentEvent] = field(default_factory=list)
    incidents: list[IncidentEvent] = field(default_factory=list)
    # The recent bad deployment that later steps (alert storm, drift) build on.
    bad_deployment: DeploymentEvent | None = None


def build_scenario(seed: int = 7, now: datetime | None = None, days: int = 90) -> Scenario:
    now = utc(now) if now else utc(datetime(2026, 11, 20, 12, 0))
    rng = np.random.default_rng(seed)
    sc = Scenario(seed=seed, now=now, catalog=topology.catalog())
    delivery.build(sc, rng, days=days)
    return sc


def load_scenario(store, scenario: Scenario) -> None:  # type: ignore[no-untyped-def]
    from tools.store.delivery import upsert_deployments, upsert_incidents

    with store.engine.begin() as conn:
        upsert_deployments(conn, scenario.deployments)
        upsert_incidents(conn, scenario.incidents)
