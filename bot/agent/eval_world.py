"""A small world with hand-known answers, for the agent's tests and `triops eval agent`.

Now is 2026-11-23 12:00 UTC. In the last 30 days:
- checkout (team-shop): 10 production deployments, one every two days (1, 3, … 19 days
  ago); checkout-d3 and checkout-d7 each caused an incident → change fail rate 20 %; each
  deployment ships one commit made 5 hours before it finished → median lead time 5 h.
  Before that (30–60 days ago): 5 deployments, none failed.
- payments (team-payments): 4 deployments (2, 9, 16, 23 days ago), none failed; commits
  26 hours before → median lead time 26 h.
- search and ranking-api (team-search): 6 and 3 deployments, none failed.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tools.catalog import Service, ServiceCatalog
from tools.contract import ToolContext
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.settings import Settings
from tools.store import Store
from tools.store.delivery import upsert_deployments, upsert_incidents

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def catalog() -> ServiceCatalog:
    return ServiceCatalog(services=[
        Service(name="checkout", team="team-shop", depends_on=["payments", "search"]),
        Service(name="payments", team="team-payments"),
        Service(name="search", team="team-search"),
        Service(name="ranking-api", team="team-search", depends_on=["search"]),
    ])


def _deploys(service: str, team: str, days_ago: list[int], lead_hours: float, prefix: str) -> list[DeploymentEvent]:
    out = []
    for i, d in enumerate(days_ago):
        finished = NOW - timedelta(days=d)
        out.append(DeploymentEvent(
            id=f"{prefix}{i}", service=service, team=team, environment="production",
            started_at=finished - timedelta(minutes=10), finished_at=finished, status="success",
            version=f"v1.{i}.0",
            commits=[{"sha": f"{prefix.replace('-', '')}{i:04d}aa", "committed_at": finished - timedelta(hours=lead_hours)}],
        ))
    return out


def deployments() -> list[DeploymentEvent]:
    return [
        *_deploys("checkout", "team-shop", [1, 3, 5, 7, 9, 11, 13, 15, 17, 19], 5, "checkout-d"),
        *_deploys("checkout", "team-shop", [35, 40, 45, 50, 55], 5, "checkout-p"),
        *_deploys("payments", "team-payments", [2, 9, 16, 23], 26, "payments-d"),
        *_deploys("search", "team-search", [1, 4, 8, 12, 20, 27], 8, "search-d"),
        *_deploys("ranking-api", "team-search", [6, 14, 22], 12, "ranking-d"),
    ]


def incidents() -> list[IncidentEvent]:
    out = []
    for dep in ("checkout-d3", "checkout-d7"):
        days = {"checkout-d3": 7, "checkout-d7": 15}[dep]
        opened = NOW - timedelta(days=days) + timedelta(minutes=30)
        out.append(IncidentEvent(
            id=f"INC-{dep}", service="checkout", opened_at=opened, resolved_at=opened + timedelta(hours=2),
            caused_by_deployment=dep, severity="sev2", title=f"checkout errors after {dep}",
        ))
    return out


def seed(store: Store) -> None:
    with store.engine.begin() as conn:
        upsert_deployments(conn, deployments())
        upsert_incidents(conn, incidents())


def context(store: Store, settings: Settings | None = None) -> ToolContext:
    settings = settings or Settings(home=Path("/nonexistent-triops-home"))
    return ToolContext(settings=settings, store=store, catalog=catalog(), clock=lambda: NOW)


def open_world(url: str | None = None, settings: Settings | None = None) -> ToolContext:
    """A fresh store seeded with this world, and its tool context.

    By default a SQLite file in a new temporary directory: an in-memory database would be a
    different, empty one in each thread (the agent runs tools on worker threads).
    """
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='triops-eval-')) / 'world.db'}"
    store = Store.open(url)
    seed(store)
    return context(store, settings)
