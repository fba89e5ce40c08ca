"""Probable-cause ranking for one incident: pure, given the incident, the graph and changes.

Each affected service is a candidate, plus a silent shared dependency of several
independent upstream services, plus a changed dependency that does not alert. Evidence is
kept as data (`CauseEvidence`: what, its weight, the alert / path / change it rests on) and
each candidate says what would refute it, so a reader can check the claim rather than trust
a score:
- it is the most upstream affected service (none of its own dependencies alert) and
  affected services depend on it (the dependency path to each);
- it alerted first;
- it (or a dependency it has) changed shortly before the first alert: a deployment or a
  model drift event, closer in time weighs more, a failed deployment more still (one change
  per candidate; half for a service whose affected dependency alerted clearly first);
- most of the services that call it alert (fan-out), or few do (against it);
- it fired several distinct alerts of its own;
- its golden signals broke first, after its suspect change (metric evidence, when read).

When the evidence cannot single out a cause (several independent upstream services and no
common dependency or change to explain them; or the best candidate shares a silent
dependency with siblings alerting in other incidents), `rank_incident` abstains: "no clear
cause" is a better post than a confident wrong service. Weights were chosen on the storms of
bench/alertstorm.py and bench/stormgen2.py (bench/RESULTS.md, issue 11 part 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from tools.alerts.models import Alert, ChangeEvent
from tools.catalog import ServiceCatalog
from tools.timeutil import from_epoch, to_epoch

if TYPE_CHECKING:
    from tools.alerts.correlate import IncidentState
    from tools.alerts.metric_evidence import MetricEvidence

LOOKBACK_S = 2 * 3600.0  # changes this long before the first alert are suspects
GRACE_S = 120.0  # ... and a change finishing just after the first alert still counts
PRECEDES = 1.5  # a service alerting before the affected services it depends on may be where the fault starts
MARGIN = 2.0  # the best candidate must lead the runner-up by this much when neither has a change
ORDER_TOL = 60.0  # alerts this close are a tie in order: rule evaluation and `for:` clauses blur the seconds
W_OWN = 2.0  # per distinct alert of its own beyond the first (a failing service breaks several signals)
OWN_CAP = 4
W_DEPENDENTS = 0.5  # per affected dependent alerting after it (in order), up to DEPENDENTS_CAP
DEPENDENTS_CAP = 6
SIBLING_WINDOW = 120.0  # services sharing a silent dependency alert this close together
SIBLING_SHARE = 0.6  # ... and at least this share of the services depending on it alert
SILENT_PARENT_W = 3.0  # per service it explains, the silent dependency shared across incidents
SILENT_PARENT_NAME = 2  # ... named (not just "no clear cause") once this many others alert with the top one
W_METRIC_FIRST = 3.0  # its golden signals broke first (within ORDER_TOL of the earliest break)
W_METRIC_LATER = 0.5  # ... broke, but after another service's
W_METRIC_QUIET = -1.0  # read, and no break near the first alert
W_CHANGE_BREAK = 2.0  # its suspect change finished before the break ...
CHANGE_TO_BREAK_S = 3600.0  # ... by at most this
CHANGE_LATE_FACTOR = 0.5  # a change of a service whose affected dependency alerted clearly before it
W_FAN = 6.0  # the share of its direct dependents that alert, against FAN_MID
FAN_MID = 0.5
SKIPPED_HOP_FACTOR = 0.5  # most upstream, but none of its direct callers alert (only services further down)
FAN_MIN = 2  # ... counted only for a service with at least this many direct dependents

EvidenceKind = Literal["most_upstream", "first_alert", "early_alert", "change", "dependency_path",
                       "shared_dependency", "downstream", "precedes", "unknown_service", "own_alerts",
                       "fan_out", "metric_break", "change_precedes_break", "metric_quiet"]


class CauseEvidence(BaseModel):
    """One fact for (or, weight 0, about) a candidate, with what it rests on."""

    kind: EvidenceKind
    weight: float = 0.0
    text: str
    alert_id: str | None = None
    at: datetime | None = None
    path: list[str] = Field(default_factory=list)  # cause -> ... -> an affected service
    services: list[str] = Field(default_factory=list)  # the affected services this explains
    change_id: str | None = None
    change_kind: str | None = None
    lead_s: float | None = None  # how long before the first alert the change finished (< 0: after)


class CauseCandidate(BaseModel):
    service: str
    score: float
    evidence: list[str] = Field(default_factory=list)  # the sentences (== [f.text for f in facts])
    facts: list[CauseEvidence] = Field(default_factory=list)
    refuted_if: list[str] = Field(default_factory=list)  # what a responder could check to rule it out
    change: ChangeEvent | None = None
    change_lead_s: float | None = None
    alerting: bool = True  # False: inferred (a silent dependency, or a changed one)


class RankedCauses(BaseModel):
    causes: list[CauseCandidate] = Field(default_factory=list)
    abstained: bool = False
    reason: str = ""  # why it abstained, or why the first is the cause
    metric_note: str = ""  # metric evidence: what was read, or why there is none


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _Graph:
    def __init__(self, catalog: ServiceCatalog):
        self.known = set(catalog.service_names)
        self.deps = {s.name: list(s.depends_on) for s in catalog.services}
        self.users: dict[str, list[str]] = {}  # direct dependents
        for s in catalog.services:
            for d in s.depends_on:
                self.users.setdefault(d, []).append(s.name)
        self._up: dict[str, set[str]] = {}

    def upstream(self, s: str) -> set[str]:
        got = self._up.get(s)
        if got is None:
            got, stack = set(), list(self.deps.get(s, ()))
            while stack:
                d = stack.pop()
                if d not in got:
                    got.add(d)
                    stack.extend(self.deps.get(d, ()))
            self._up[s] = got
        return got

    def path(self, below: str, cause: str) -> list[str]:
        """The shortest dependency path cause -> ... -> below (below depends on cause)."""
        prev: dict[str, str] = {}
        frontier, seen = [below], {below}
        while frontier:
            nxt = []
            for s in frontier:
                for d in self.deps.get(s, ()):
                    if d in seen:
                        continue
                    seen.add(d)
                    prev[d] = s
                    if d == cause:
                        out = [cause]
                        while out[-1] != below:
                            out.append(prev[out[-1]])
                        return out
                    nxt.append(d)
            frontier = nxt
        return []


_GRAPHS: dict[int, tuple[ServiceCatalog, _Graph]] = {}  # catalog id -> its graph (a few catalogs per process)


def _graph(catalog: ServiceCatalog | None) -> _Graph:
    """The catalog's graph, built once per catalog (ranking runs on every incident change)."""
    if catalog is None:
        return _Graph(ServiceCatalog())
    hit = _GRAPHS.get(id(catalog))
    if hit is not None and hit[0] is catalog:
        return hit[1]
    if len(_GRAPHS) >= 8:
        _GRAPHS.clear()
    g = _Graph(catalog)
    _GRAPHS[id(catalog)] = (catalog, g)
    return g


def _fact(c: CauseCandidate, f: CauseEvidence) -> None:
    c.facts.append(f)
    c.evidence.append(f.text)
    c.score += f.weight


def _fan_out(c: CauseCandidate, g: _Graph, affected: set[str]) -> None:
    """A failing service fails most of the services that call it: when most of its direct
    dependents alert, that supports it; when few do, that counts against it (a lone alert
    upstream of a cascade is more often noise than its cause)."""
    users = g.users.get(c.service, [])
    if len(users) < FAN_MIN:
        return
    hit = sorted(u for u in users if u in affected)
    frac = len(hit) / len(users)
    weight = W_FAN * (frac - FAN_MID) * min(len(users), 4) / 4
    _fact(c, CauseEvidence(kind="fan_out", weight=weight, services=hit,
                           text=f"{len(hit)} of the {len(users)} services that call it alert"))
    if frac < FAN_MID:
        c.refuted_if.append(f"the other {len(users) - len(hit)} services calling {c.service} are healthy")


def rank_causes(
    services_first_seen: Mapping[str, float],
    catalog: ServiceCatalog | None,
    changes: list[ChangeEvent] | None = None,
    *,
    lookback: float = LOOKBACK_S,
    first_alerts: Mapping[str, str] | None = None,
    alert_counts: Mapping[str, int] | None = None,
) -> list[CauseCandidate]:
    """Candidates best first. `services_first_seen`: affected service -> first alert (epoch);
    `first_alerts`: service -> the id of its first alert (the evidence names it);
    `alert_counts`: service -> how many distinct alerts it fired (default 1 each)."""
    return _rank(services_first_seen, catalog, changes, lookback, first_alerts or {}, alert_counts or {})[0]


def _rank(
    seen: Mapping[str, float],
    catalog: ServiceCatalog | None,
    changes: list[ChangeEvent] | None,
    lookback: float,
    first_alerts: Mapping[str, str],
    alert_counts: Mapping[str, int],
    metrics: MetricEvidence | None = None,
) -> tuple[list[CauseCandidate], list[str], _Graph]:
    g = _graph(catalog)
    if not seen:
        return [], [], g
    affected = set(seen)
    first_at = min(seen.values())
    ordered = sorted(affected, key=lambda s: (seen[s], s))
    roots: list[str] = []
    late: set[str] = set()  # below an affected service that alerted clearly before them
    by_service: dict[str, CauseCandidate] = {}
    for s in ordered:
        c = by_service[s] = CauseCandidate(service=s, score=0.0)
        affected_up = g.upstream(s) & affected if s in g.known else set()
        dependents = sorted((a for a in affected if s in g.upstream(a)), key=lambda a: (seen[a], a))
        if any(seen[u] < seen[s] - ORDER_TOL for u in affected_up):
            late.add(s)
        own = alert_counts.get(s, 1)
        if own > 1:
            _fact(c, CauseEvidence(kind="own_alerts", weight=W_OWN * (min(own, OWN_CAP) - 1),
                                   text=f"fired {own} distinct alerts of its own"))
        _fan_out(c, g, affected)
        if s not in g.known:
            _fact(c, CauseEvidence(kind="unknown_service", text=f"{s} is not in the service catalog, so its place in the graph is unknown"))
        elif not affected_up:
            roots.append(s)
            shown = ", ".join(dependents[:5]) + ("…" if len(dependents) > 5 else "")
            text = (f"most upstream affected service: {shown} depend on it and none of its dependencies alert"
                    if dependents else "none of its dependencies alert")
            after = [d for d in dependents if seen[d] >= seen[s] - ORDER_TOL]  # a cause alerts before its symptoms
            consistent = len(after) / len(dependents) if dependents else 1.0
            weight = 1.0 + 2.0 * consistent + W_DEPENDENTS * min(len(after), DEPENDENTS_CAP)
            if dependents and not any(u in affected for u in g.users.get(s, ())):
                # none of its direct callers alerts: its cascade would have crossed a healthy hop
                weight *= SKIPPED_HOP_FACTOR
                text += "; none of the services calling it directly alert"
                c.refuted_if.append(f"the services between {s} and {dependents[0]} are healthy")
            _fact(c, CauseEvidence(kind="most_upstream", weight=weight,
                                   text=text + (f" ({len(after)} of {len(dependents)} alerted after it)" if dependents else ""),
                                   services=dependents))
            for d in dependents[:5]:
                p = g.path(d, s)
                c.facts.append(CauseEvidence(kind="dependency_path", text=" → ".join(p), path=p, services=[d]))
            c.refuted_if.append(f"{s}'s own dependencies are failing too (then the fault is further upstream)")
            if dependents:
                c.refuted_if.append(f"{', '.join(dependents[:3])} fail for a reason of their own while {s} is healthy")
        else:
            _fact(c, CauseEvidence(kind="downstream", text=f"depends on affected {', '.join(sorted(affected_up)[:3])}",
                                   services=sorted(affected_up)[:3]))
            if all(seen[u] > seen[s] + ORDER_TOL for u in affected_up):
                _fact(c, CauseEvidence(kind="precedes", weight=PRECEDES,
                                       text=f"alerted before {', '.join(sorted(affected_up)[:3])}, which it depends on",
                                       services=sorted(affected_up)[:3]))
            c.refuted_if.append(f"{', '.join(sorted(affected_up)[:2])} recover while {s} still fails")
        lag = seen[s] - first_at
        aid = first_alerts.get(s)
        if s == ordered[0]:
            _fact(c, CauseEvidence(kind="first_alert", weight=2.0, text=f"alerted first ({from_epoch(first_at):%H:%M:%S} UTC)",
                                   alert_id=aid, at=from_epoch(first_at)))
        elif lag <= ORDER_TOL:
            _fact(c, CauseEvidence(kind="early_alert", weight=1.0, text=f"alerted {_ago(lag)} after the first alert",
                                   alert_id=aid, at=from_epoch(seen[s])))
    out = list(by_service.values())
    # several independent upstream services: a dependency they share that does not alert
    if len(roots) >= 2:
        shared = set.intersection(*(g.upstream(r) for r in roots if r in g.known)) - affected
        nearest = sorted(shared, key=lambda d: (sum(len(g.path(r, d)) for r in roots), d))
        if nearest:
            d = nearest[0]
            c = CauseCandidate(service=d, score=0.0, alerting=False)
            _fact(c, CauseEvidence(
                kind="shared_dependency", weight=3.0 + 1.5 * len(roots),
                text=f"does not alert, but {', '.join(roots[:4])} all depend on it and none of them depends on another",
                services=list(roots)))
            for r in roots[:4]:
                p = g.path(r, d)
                c.facts.append(CauseEvidence(kind="dependency_path", text=" → ".join(p), path=p, services=[r]))
            c.refuted_if.append(f"{d} is healthy (its own metrics, or other dependents of it not alerting)")
            by_service[d] = c
            out.append(c)
    best_change: dict[str, tuple[float, ChangeEvent, float]] = {}  # candidate -> its strongest change
    for ch in changes or []:
        at = to_epoch(ch.at) or 0.0
        before = first_at - at
        if before < -GRACE_S or before > lookback:
            continue
        closeness = 1.0 - max(before, 0.0) / lookback
        weight = 2.0 + 4.0 * closeness + (1.0 if (ch.status or "") in {"failure", "failed"} else 0.0)
        if ch.service in late:  # its dependency failed first: its change does not explain that
            weight *= CHANGE_LATE_FACTOR
        elif ch.service not in by_service:
            dependents = sorted(a for a in affected if ch.service in g.upstream(a))
            if not dependents:
                continue
            weight *= 0.75
            target = CauseCandidate(service=ch.service, score=0.0, alerting=False)
            _fact(target, CauseEvidence(kind="downstream", text=f"not alerting, but {', '.join(dependents[:3])} depend on it",
                                        services=dependents[:3]))
            by_service[ch.service] = target
            out.append(target)
        prev = best_change.get(ch.service)
        if prev is None or weight > prev[0]:
            best_change[ch.service] = (weight, ch, before)
    for svc, (weight, ch, before) in best_change.items():
        # one change counts (its strongest): a service deployed thrice is not thrice the suspect
        target = by_service[svc]
        what = f"{ch.kind.replace('_', ' ')} {ch.id}" + (f" ({ch.summary})" if ch.summary else "")
        when = f"{_ago(before)} before the first alert" if before >= 0 else f"{_ago(before)} after the first alert"
        _fact(target, CauseEvidence(kind="change", weight=weight, text=f"{what} of {ch.service} finished {when}",
                                    change_id=ch.id, change_kind=ch.kind, at=ch.at, lead_s=round(before, 1)))
        target.change = ch
        target.change_lead_s = round(before, 1)
        target.refuted_if.append(f"rolling back {ch.kind.replace('_', ' ')} {ch.id} does not end the alerts")
    if metrics is not None and metrics.available:
        _silent_breaks(by_service, out, metrics, g, seen)
        _metric_facts(by_service, metrics, first_at)
    out.sort(key=lambda c: (-c.score, seen.get(c.service, first_at), c.service))
    for c in out:
        c.score = round(c.score, 2)
    return out, roots, g


def _silent_breaks(by_service: dict[str, CauseCandidate], out: list[CauseCandidate], metrics: MetricEvidence,
                   g: _Graph, seen: Mapping[str, float]) -> None:
    """A dependency that does not alert but whose golden signals broke before every alert of
    the affected services that depend on it is a candidate (inferred, not alerting)."""
    for b in metrics.breaks:
        if b.service in by_service:
            continue
        below = sorted((a for a in seen if b.service in g.upstream(a)), key=lambda a: (seen[a], a))
        if not below:
            continue
        t = b.at.timestamp()
        after = [a for a in below if seen[a] >= t - ORDER_TOL]
        c = CauseCandidate(service=b.service, score=0.0, alerting=False)
        _fact(c, CauseEvidence(kind="most_upstream", weight=1.0 + 2.0 * len(after) / len(below),
                               text=(f"does not alert, but {', '.join(below[:4])} depend on it "
                                     f"({len(after)} of {len(below)} alerted after its signals broke)"),
                               services=below))
        _fan_out(c, g, set(seen))
        for a in below[:3]:
            p = g.path(a, b.service)
            c.facts.append(CauseEvidence(kind="dependency_path", text=" → ".join(p), path=p, services=[a]))
        c.refuted_if.append(f"{b.service}'s {b.signal} broke for a reason that does not reach its callers")
        by_service[b.service] = c
        out.append(c)


def _metric_facts(by_service: Mapping[str, CauseCandidate], metrics: MetricEvidence, first_at: float) -> None:
    """Which service's golden signals broke first, and whether its suspect change precedes
    the break; a service whose signals were read and show no break counts against."""
    from tools.alerts.metric_evidence import describe

    breaks = {b.service: b for b in metrics.breaks}  # first per service
    earliest = min((b.at.timestamp() for b in metrics.breaks), default=None)
    for svc, c in by_service.items():
        b = breaks.get(svc)
        if b is None:
            if svc in metrics.checked:
                _fact(c, CauseEvidence(kind="metric_quiet", weight=W_METRIC_QUIET,
                                       text="its golden signals show no break near the first alert"))
            continue
        t = b.at.timestamp()
        first = earliest is not None and t <= earliest + ORDER_TOL
        _fact(c, CauseEvidence(kind="metric_break", weight=W_METRIC_FIRST if first else W_METRIC_LATER,
                               text=("its golden signals broke first: " if first else "") + describe(b, first_at),
                               at=b.at, lead_s=round(first_at - t, 1), services=[svc]))
        ch = c.change
        if ch is not None:
            gap = t - (to_epoch(ch.at) or 0.0)
            if 0 <= gap <= CHANGE_TO_BREAK_S:
                _fact(c, CauseEvidence(kind="change_precedes_break", weight=W_CHANGE_BREAK,
                                       text=f"{ch.kind.replace('_', ' ')} {ch.id} finished {_ago(gap)} before its {b.signal} broke",
                                       change_id=ch.id, change_kind=ch.kind, at=ch.at, lead_s=round(gap, 1)))
        c.refuted_if.append(f"{svc}'s {b.signal} broke for another reason (traffic, a dependency) than this fault")


Elsewhere = Callable[[str, float], "float | None"]  # (service, around) -> when it alerted in another incident


def rank_incident(
    inc: IncidentState,
    catalog: ServiceCatalog | None,
    changes: list[ChangeEvent] | None = None,
    *,
    lookback: float = LOOKBACK_S,
    margin: float = MARGIN,
    elsewhere: Elsewhere | None = None,
    metrics: MetricEvidence | None = None,
    alerts: tuple[Mapping[str, str], Mapping[str, int]] | None = None,
) -> RankedCauses:
    """The incident's ranked causes, or an abstention when nothing singles one out:
    - several independent upstream services with no shared dependency and no change to
      explain them, and a lead over the runner-up below `margin`;
    - the best candidate alerts, but a dependency of it that does not alert is shared with
      services alerting at the same time, in this incident or in others (`elsewhere`): its
      symptoms may all come from that silent dependency, unless its own evidence (a change
      or a metric break included: evidence is weighed, not a veto) leads that dependency's
      by `margin`. With enough of them alerting, that dependency is named (inferred, not
      alerting) instead.
    `alerts`: what `incident_alerts(inc)` would count, kept up to date by the caller (the live
    path: tools/alerts/summary.py), so a save need not recount every alert of a big incident."""
    first_alerts, counts = incident_alerts(inc) if alerts is None else alerts
    causes, roots, g = _rank(inc.services, catalog, changes, lookback, first_alerts, counts, metrics)
    note = "" if metrics is None else metrics.note
    if not causes:
        return RankedCauses(abstained=True, reason="no alert names a service", metric_note=note)
    top = causes[0]
    has_change = top.change is not None or any(f.kind == "metric_break" and f.weight >= W_METRIC_FIRST for f in top.facts)
    lead = top.score - (causes[1].score if len(causes) > 1 else 0.0)
    if len(roots) >= 2 and top.alerting and not has_change and lead < margin:
        shared = next((c for c in causes if c.facts and c.facts[0].kind == "shared_dependency"), None)
        why = (f"their shared dependency {shared.service} does not alert and does not lead" if shared
               else "they share no dependency")
        return RankedCauses(
            causes=causes, abstained=True, metric_note=note,
            reason=(f"no clear cause: {', '.join(roots[:4])} alert independently (none depends on another), "
                    f"{why}, and no change explains them"),
        )
    if elsewhere is not None and top.alerting:
        parent = _silent_parent(top.service, inc.services, g, elsewhere)
        if parent is not None:
            d, hits = parent
            c = CauseCandidate(service=d, score=0.0, alerting=False)
            t0 = inc.services[top.service]
            names = ", ".join(f"{u} ({_ago(t - t0)} {'after' if t >= t0 else 'before'}"
                              f"{'' if u in inc.services else ', in another incident'})" for u, t in hits[:4])
            _fact(c, CauseEvidence(
                kind="shared_dependency", weight=SILENT_PARENT_W * (1 + len(hits)),
                text=f"does not alert, but {top.service} and {len(hits)} other service(s) that depend on it alert "
                     f"at the same time: {names}",
                services=[top.service, *(u for u, _t in hits)]))
            for u in [top.service, *(u for u, _t in hits[:3])]:
                p = g.path(u, d)
                c.facts.append(CauseEvidence(kind="dependency_path", text=" → ".join(p), path=p, services=[u]))
            c.refuted_if.append(f"{d} is healthy (its own metrics, or other dependents of it not alerting)")
            c.score = round(c.score, 2)
            # it replaces the same dependency inferred from this incident alone (a subset of these siblings)
            others = [x for x in causes if x.service != d or x.alerting]
            if top.score - c.score >= margin:  # its own evidence (a change, a metric break included) still leads clearly
                return RankedCauses(causes=sorted([*others, c], key=lambda x: (x is not top, -x.score)),
                                    reason=top.evidence[0] if top.evidence else "", metric_note=note)
            causes = sorted([*others, c], key=lambda x: (x is not c, -x.score))
            if len(hits) >= SILENT_PARENT_NAME:
                return RankedCauses(causes=causes, reason=c.evidence[0], metric_note=note)
            return RankedCauses(
                causes=causes, abstained=True, metric_note=note,
                reason=(f"no clear cause: {top.service} may fail on its own, or with {names} because of "
                        f"{d}, which they share and which does not alert"),
            )
    return RankedCauses(causes=causes, reason=top.evidence[0] if top.evidence else "", metric_note=note)


def _silent_parent(top: str, seen: Mapping[str, float], g: _Graph,
                   elsewhere: Elsewhere) -> tuple[str, list[tuple[str, float]]] | None:
    """A direct dependency of `top` that does not alert while other services depending on
    it alert within SIBLING_WINDOW of `top`, in this incident (`seen`) or in others
    (`elsewhere`: correlation keeps siblings apart), together at least SIBLING_SHARE of its
    dependents (one sibling of ten is a coincidence, most of them is a pattern):
    (it, [(sibling, when)]). A sibling that also depends on `top`, or on another service
    alerting in this incident, is no evidence: that explains it as well as the silent
    dependency would."""
    t = seen[top]
    best: tuple[str, list[tuple[str, float]]] | None = None
    for d in g.deps.get(top, ()):
        if d in seen or elsewhere(d, t) is not None:
            continue  # it alerts: then it is a candidate in its own right, not a silent one
        hits = []
        for u in g.users.get(d, ()):
            up = g.upstream(u)
            if u == top or top in up:
                continue  # a caller of `top` too: its alerts are explained by `top`, not evidence for d
            at = seen.get(u)
            if at is not None and any(x in seen for x in up):
                continue  # something else it depends on alerts with it: that explains it as well
            if at is None or abs(at - t) > SIBLING_WINDOW:
                at = elsewhere(u, t)
            if at is not None:
                hits.append((u, at))
        share = (1 + len(hits)) / len(g.users.get(d, [top]))
        if hits and share >= SIBLING_SHARE and (best is None or len(hits) > len(best[1])):
            best = (d, sorted(hits, key=lambda h: (abs(h[1] - t), h[0])))
    return best


def incident_alerts(inc: IncidentState) -> tuple[dict[str, str], dict[str, int]]:
    """Per affected service: the id of its first alert, and how many distinct alerts
    (fingerprints) it fired. An alert without a service label counts for the affected
    service its pod's workload is named after."""
    first: dict[str, str] = {}
    fps: dict[str, set[str]] = {}
    for aid in inc.alert_ids:
        a = inc.alerts.get(aid)
        if a is None:
            continue
        svc = a.service
        if not svc:
            workload = pod_workload(a)
            svc = workload if workload in inc.services else None
        if not svc:
            continue
        first.setdefault(svc, aid)
        fps.setdefault(svc, set()).add(a.fingerprint)
    return first, {s: len(v) for s, v in fps.items()}


def pod_workload(a: Alert) -> str | None:
    """The workload a service-less alert's pod is named after (`api-7d4b9-x2x` -> `api`)."""
    pod = a.labels.get("pod")
    return pod.rsplit("-", 2)[0] if pod and pod.count("-") >= 2 else None


def suspect_change(causes: list[CauseCandidate]) -> ChangeEvent | None:
    """The change attached to the best-ranked candidate that has one."""
    return next((c.change for c in causes if c.change is not None), None)


def change_window(first_alert: datetime, lookback: float = LOOKBACK_S) -> tuple[float, float]:
    t = to_epoch(first_alert) or 0.0
    return t - lookback, t + GRACE_S
