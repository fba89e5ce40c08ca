"""The small hand-computed DORA event log (tests/data/dora_small_*), loaded the real way."""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.catalog import ServiceCatalog
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.store.delivery import upsert_deployments, upsert_incidents

DATA = Path(__file__).parent / "data"
DEPLOYMENTS = DATA / "dora_small_deployments.jsonl"
INCIDENTS = DATA / "dora_small_incidents.jsonl"
EXPECTED = DATA / "dora_small_expected.yaml"

CATALOG = ServiceCatalog.model_validate(
    {
        "services": [
            {"name": "checkout", "team": "payments", "depends_on": ["payments-api"]},
            {"name": "payments-api", "team": "payments", "depends_on": ["ledger"]},
            {"name": "ledger", "team": "payments"},
            {"name": "search", "team": "discovery"},
        ]
    }
)


def deployment_events() -> list[DeploymentEvent]:
    return [
        DeploymentEvent.model_validate_json(line) for line in DEPLOYMENTS.read_text().splitlines()
    ]


def incident_events() -> list[IncidentEvent]:
    return [IncidentEvent.model_validate_json(line) for line in INCIDENTS.read_text().splitlines()]


def load_event_by_event(store) -> None:  # type: ignore[no-untyped-def]
    """One upsert per line, in file order, so a repeated id goes through the update path."""
    with store.engine.begin() as conn:
        for d in deployment_events():
            upsert_deployments(conn, [d])
        for i in incident_events():
            upsert_incidents(conn, [i])


def load_batch(store) -> None:  # type: ignore[no-untyped-def]
    with store.engine.begin() as conn:
        upsert_deployments(conn, deployment_events())
        upsert_incidents(conn, incident_events())


def expected() -> dict:
    return yaml.safe_load(EXPECTED.read_text())
