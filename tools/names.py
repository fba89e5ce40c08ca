"""The names triops knows: services, teams, models and alert rules, from the catalog and the store.

Surfaces (the planner's slot filling, pickers) ask here instead of reading tables. Nothing
is cached: names arrive with every deployment, alert and registry event, so a caller that
wants to save queries keeps the answer for as long as staleness is acceptable to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from tools.store.alerts import alerts
from tools.store.delivery import known_services, known_teams
from tools.store.models import ml_models, model_names

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from tools.contract import ToolContext

MAX_NAMES = 2000  # per source: a vocabulary, not an export


@dataclass
class KnownNames:
    services: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # alert rule names seen by the store
    model_services: dict[str, str] = field(default_factory=dict)  # service -> the model serving it

    def of_kind(self, kind: str) -> list[str]:
        """The names of one kind: "service", "team", "model" or "alert"."""
        return {"service": self.services, "team": self.teams, "model": self.models, "alert": self.alerts}[kind]


KINDS = ("service", "team", "model", "alert")


def alert_services(conn: Connection) -> list[str]:
    """Services alerts were raised for (some never deploy through triops)."""
    q = select(alerts.c.service).where(alerts.c.service.is_not(None)).distinct().limit(MAX_NAMES)
    return [str(r[0]) for r in conn.execute(q) if r[0]]


def alert_names(conn: Connection) -> list[str]:
    q = select(alerts.c.name).distinct().limit(MAX_NAMES)
    return [str(r[0]) for r in conn.execute(q) if r[0]]


def model_services(conn: Connection) -> dict[str, str]:
    """Service -> the model serving it ("the ranking model" = the model behind `ranking`)."""
    out: dict[str, str] = {}
    q = select(ml_models.c.service, ml_models.c.name).where(ml_models.c.service.is_not(None)).order_by(ml_models.c.name)
    for service, name in conn.execute(q):
        out.setdefault(str(service), str(name))
    return out


def known_names(ctx: ToolContext) -> KnownNames:
    """Every name as of now: services from the catalog, deployments and alerts; teams from the
    catalog and deployments; registered models; alert rule names. Each list sorted, unique."""
    with ctx.store.engine.connect() as conn:
        services = [*ctx.catalog.service_names, *known_services(conn)[:MAX_NAMES], *alert_services(conn)]
        teams = [*ctx.catalog.team_names, *known_teams(conn)[:MAX_NAMES]]
        return KnownNames(
            services=sorted(set(services)),
            teams=sorted(set(teams)),
            models=sorted(set(model_names(conn))),
            alerts=sorted(set(alert_names(conn))),
            model_services=model_services(conn),
        )


__all__ = ["KINDS", "KnownNames", "known_names"]
