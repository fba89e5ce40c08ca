"""The service catalog: services, owning teams and `depends_on` edges (a services.yaml).

Used to resolve a scope ("checkout", "team-payments", "org") and, by the alert correlation,
to walk the dependency graph upstream.
"""

from __future__ import annotations

import difflib
from collections import deque
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

from tools.errors import ToolError


class Service(BaseModel):
    name: str
    team: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    tier: int | None = None
    description: str | None = None
    repo: str | None = None
    # PromQL per golden signal (latency, traffic, errors, saturation); `{service}` is replaced by
    # the service name. Missing signals use tools.metrics.signals.DEFAULT_SIGNALS.
    promql: dict[str, str] = Field(default_factory=dict)


class Team(BaseModel):
    name: str
    slack_channel: str | None = None
    slack_user_group: str | None = None


class ServiceCatalog(BaseModel):
    services: list[Service] = Field(default_factory=list)
    teams: list[Team] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> ServiceCatalog:
        names = {s.name for s in self.services}
        for s in self.services:
            missing = [d for d in s.depends_on if d not in names]
            if missing:
                raise ValueError(f"service {s.name} depends on unknown {', '.join(missing)}")
        team_names = {t.name for t in self.teams}
        for s in self.services:
            if s.team and s.team not in team_names:
                self.teams.append(Team(name=s.team))
                team_names.add(s.team)
        return self

    @classmethod
    def load(cls, path: Path) -> ServiceCatalog:
        if not path.exists():
            return cls()
        data = yaml.safe_load(path.read_text()) or {}
        if isinstance(data.get("services"), dict):  # mapping form: {name: {team, depends_on}}
            data["services"] = [{"name": k, **(v or {})} for k, v in data["services"].items()]
        return cls.model_validate(data)

    def dump(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.model_dump(exclude_none=True), sort_keys=False))

    # --- look-ups -----------------------------------------------------------------------
    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def service_names(self) -> list[str]:
        return [s.name for s in self.services]

    @property
    def team_names(self) -> list[str]:
        return [t.name for t in self.teams]

    def services_of_team(self, team: str) -> list[str]:
        return [s.name for s in self.services if s.team == team]

    def team_of(self, service: str) -> str | None:
        s = self.service(service)
        return s.team if s else None

    def dependencies(self, service: str) -> list[str]:
        s = self.service(service)
        return list(s.depends_on) if s else []

    def dependents(self, service: str) -> list[str]:
        return [s.name for s in self.services if service in s.depends_on]

    def upstream(self, service: str) -> list[str]:
        """Everything `service` depends on, transitively, nearest first (BFS order)."""
        seen: list[str] = []
        queue = deque(self.dependencies(service))
        while queue:
            cur = queue.popleft()
            if cur in seen or cur == service:
                continue
            seen.append(cur)
            queue.extend(self.dependencies(cur))
        return seen

    def depth(self, service: str) -> int:
        """Longest dependency chain below `service` (0 for a leaf dependency)."""
        memo: dict[str, int] = {}

        def go(name: str, stack: frozenset[str]) -> int:
            if name in memo:
                return memo[name]
            deps = [d for d in self.dependencies(name) if d not in stack]
            memo[name] = 0 if not deps else 1 + max(go(d, stack | {name}) for d in deps)
            return memo[name]

        return go(service, frozenset())


class Scope(BaseModel):
    """What a question is about: one service, one team's services, or the whole org."""

    kind: str  # "service" | "team" | "org"
    name: str | None = None
    services: list[str] | None = None  # None = every service

    @property
    def service_names(self) -> list[str]:
        """The services named by the scope (a service scope: the service itself)."""
        if self.services:
            return list(self.services)
        return [self.name] if self.kind == "service" and self.name else []

    @property
    def label(self) -> str:
        return "the whole org" if self.kind == "org" else f"{self.kind} {self.name}"


ScopeKind = Literal["service", "team"]


def resolve_scope(
    text: str | None,
    catalog: ServiceCatalog,
    *,
    kind: ScopeKind | None = None,
    known_services: list[str] | None = None,
    known_teams: list[str] | None = None,
) -> Scope:
    """Match a word against services (catalog + store) and teams; else a helpful ToolError.

    Without `kind` the word is ambiguous: a service is tried first, then a team, and an
    empty word or "org" means the whole org. With `kind` the word is only ever that kind,
    so `--team payments` is team payments even when a service is called payments.
    """
    services = sorted(set(catalog.service_names) | set(known_services or []))
    teams = sorted(set(catalog.team_names) | set(known_teams or []))
    if kind is None and (not text or text.lower() in {"org", "all", "everything", "*"}):
        return Scope(kind="org")
    if not text:
        raise ToolError(f"Name a {kind}.", hint=_known(kind, services, teams))
    word = text.strip().lower()
    by_lower = {s.lower(): s for s in services} if kind != "team" else {}
    if word in by_lower:
        return Scope(kind="service", name=by_lower[word], services=[by_lower[word]])
    teams_lower = {t.lower(): t for t in teams} if kind != "service" else {}
    for candidate in (word, word.removeprefix("team-"), f"team-{word}"):
        if candidate in teams_lower:
            team = teams_lower[candidate]
            members = catalog.services_of_team(team)
            return Scope(kind="team", name=team, services=members)
    close = difflib.get_close_matches(word, [*by_lower, *teams_lower], n=1, cutoff=0.75)
    guess = f" Did you mean '{by_lower.get(close[0]) or teams_lower[close[0]]}'?" if close else ""
    what = kind or "service or team"
    other = teams if kind == "service" else services if kind == "team" else []
    if not guess and word in {o.lower() for o in other}:  # the other kind has that name
        guess = f" There is a {'team' if kind == 'service' else 'service'} called '{text}'."
    raise ToolError(
        f"I don't know a {what} called '{text}'.{guess}",
        hint=_known(kind, services, teams),
        choices=teams if kind == "team" else services,
    )


def _known(kind: ScopeKind | None, services: list[str], teams: list[str]) -> str:
    known_services = "Known services: " + (", ".join(services) or "none yet")
    known_teams = "Known teams: " + (", ".join(teams) or "none yet")
    if kind == "service":
        return known_services
    if kind == "team":
        return known_teams
    return known_services + (". Teams: " + ", ".join(teams) if teams else "")
