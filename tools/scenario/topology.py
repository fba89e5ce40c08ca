"""The demo organisation: eight services, five teams, a dependency graph with depth 3."""

from __future__ import annotations

from tools.catalog import Service, ServiceCatalog, Team

TEAMS = [
    Team(name="team-web", slack_channel="#web"),
    Team(name="team-payments", slack_channel="#payments"),
    Team(name="team-fulfilment", slack_channel="#fulfilment"),
    Team(name="team-discovery", slack_channel="#discovery"),
    Team(name="team-platform", slack_channel="#platform"),
]

SERVICES = [
    Service(name="web-frontend", team="team-web", depends_on=["checkout", "search", "auth"], tier=1),
    Service(name="checkout", team="team-payments", depends_on=["payments", "inventory", "auth"], tier=1),
    Service(name="payments", team="team-payments", depends_on=["postgres-main"], tier=1),
    Service(name="inventory", team="team-fulfilment", depends_on=["postgres-main"], tier=2),
    Service(name="search", team="team-discovery", depends_on=["ranking"], tier=2),
    Service(name="ranking", team="team-discovery", depends_on=["feature-store"], tier=2),
    Service(name="feature-store", team="team-platform", depends_on=["postgres-main"], tier=2),
    Service(name="auth", team="team-platform", depends_on=["postgres-main"], tier=1),
    Service(name="postgres-main", team="team-platform", depends_on=[], tier=0),
]


def catalog() -> ServiceCatalog:
    return ServiceCatalog(
        services=[s.model_copy(deep=True) for s in SERVICES],
        teams=[t.model_copy(deep=True) for t in TEAMS],
    )
