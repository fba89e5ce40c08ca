"""Probable-cause ranking for one incident: pure, given the incident, the graph and changes.

Each affected service is a candidate. Evidence, each with its weight and a sentence:
- it is the most upstream affected service (none of its own dependencies alert) and
  affected services depend on it;
- it alerted first;
- it (or a dependency it has) changed shortly before the first alert: a deployment or a
  model drift event, closer in time weighs more, a failed deployment more still.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tools.alerts.models import ChangeEvent
from tools.catalog import ServiceCatalog
from tools.timeutil import from_epoch, to_epoch

LOOKBACK_S = 2 * 3600.0  # changes this long before the first alert are suspects
GRACE_S = 120.0  # ... and a change finishing just after the first alert still counts


class CauseCandidate(BaseModel):
    service: str
    score: float
    evidence: list[str] = Field(default_factory=list)
    change: ChangeEvent | None = None


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def rank_causes(
    services_first_seen: dict[str, float],
    catalog: ServiceCatalog | None,
    changes: list[ChangeEvent] | None = None,
    *,
    lookback: float = LOOKBACK_S,
) -> list[CauseCandidate]:
    """Candidates best first. `services_first_seen`: affected service -> first alert (epoch)."""
    if not services_first_seen:
        return []
    affected = set(services_first_seen)
    first_at = min(services_first_seen.values())
    catalog = catalog or ServiceCatalog()
    known = set(catalog.service_names)
    upstream = {s: set(catalog.upstream(s)) if s in known else set() for s in affected}
    out: list[CauseCandidate] = []
    ordered = sorted(affected, key=lambda s: (services_first_seen[s], s))
    for s in ordered:
        score = 0.0
        ev: list[str] = []
        affected_up = upstream[s] & affected
        dependents = sorted(a for a in affected if s in upstream[a])
        if s not in known:
            ev.append(f"{s} is not in the service catalog, so its place in the graph is unknown")
        elif not affected_up:
            score += 3.0 + 0.5 * len(dependents)
            if dependents:
                ev.append(
                    f"most upstream affected service: {', '.join(dependents[:5])}"
                    f"{'…' if len(dependents) > 5 else ''} depend on it and none of its dependencies alert"
                )
            else:
                ev.append("none of its dependencies alert")
        else:
            ev.append(f"depends on affected {', '.join(sorted(affected_up)[:3])}")
        lag = services_first_seen[s] - first_at
        if s == ordered[0]:
            score += 2.0
            ev.append(f"alerted first ({from_epoch(first_at):%H:%M:%S} UTC)")
        elif lag <= 60:
            score += 1.0
            ev.append(f"alerted {_ago(lag)} after the first alert")
        out.append(CauseCandidate(service=s, score=score, evidence=ev))
    by_service = {c.service: c for c in out}
    for ch in changes or []:
        at = to_epoch(ch.at) or 0.0
        before = first_at - at
        if before < -GRACE_S or before > lookback:
            continue
        closeness = 1.0 - max(before, 0.0) / lookback
        weight = 2.0 + 4.0 * closeness + (1.0 if (ch.status or "") in {"failure", "failed"} else 0.0)
        what = f"{ch.kind.replace('_', ' ')} {ch.id}" + (f" ({ch.summary})" if ch.summary else "")
        when = f"{_ago(before)} before the first alert" if before >= 0 else f"{_ago(before)} after the first alert"
        if ch.service in by_service:
            target, note = by_service[ch.service], f"{what} of {ch.service} finished {when}"
        else:
            dependents = sorted(a for a in affected if ch.service in upstream[a])
            if not dependents:
                continue
            weight *= 0.75
            # not in by_service (the branch above): a new candidate, found again by later changes
            target = CauseCandidate(
                service=ch.service, score=0.0,
                evidence=[f"not alerting, but {', '.join(dependents[:3])} depend on it"],
            )
            by_service[ch.service] = target
            out.append(target)
            note = f"{what} of {ch.service} finished {when}"
        target.score += weight
        target.evidence.append(note)
        if target.change is None or (to_epoch(target.change.at) or 0) < at <= first_at + GRACE_S:
            target.change = ch
    out.sort(key=lambda c: (-c.score, services_first_seen.get(c.service, first_at), c.service))
    for c in out:
        c.score = round(c.score, 2)
    return out


def suspect_change(causes: list[CauseCandidate]) -> ChangeEvent | None:
    """The change attached to the best-ranked candidate that has one."""
    return next((c.change for c in causes if c.change is not None), None)


def change_window(first_alert: datetime, lookback: float = LOOKBACK_S) -> tuple[float, float]:
    t = to_epoch(first_alert) or 0.0
    return t - lookback, t + GRACE_S


class RankedCauses(BaseModel):
    causes: list[CauseCandidate] = Field(default_factory=list)
    abstained: bool = False
    reason: str = ""


def rank_incident(inc, catalog, changes=None):  # type: ignore[no-untyped-def]
    return RankedCauses(causes=rank_causes(inc.services, catalog, changes))
