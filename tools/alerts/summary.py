"""Read-outs of incidents: the stable models the CLI, tools and Slack all print."""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tools.alerts.cause import (
    SIBLING_WINDOW,
    CauseCandidate,
    Elsewhere,
    RankedCauses,
    pod_workload,
    rank_incident,
    suspect_change,
)
from tools.alerts.correlate import CorrelationEngine, IncidentState
from tools.alerts.metric_evidence import MetricBreak, MetricEvidence
from tools.alerts.models import Alert, ChangeEvent
from tools.catalog import ServiceCatalog
from tools.timeutil import from_epoch


class AlertBrief(BaseModel):
    id: str
    name: str
    service: str | None = None
    severity: str
    status: str
    starts_at: datetime
    ends_at: datetime | None = None
    message: str = ""
    runbook_url: str | None = None
    flapping: bool = False


class IncidentSummary(BaseModel):
    id: str
    status: str  # open | resolved
    severity: str
    title: str
    services: list[str] = Field(default_factory=list)  # in order of first alert
    opened_at: datetime
    last_alert_at: datetime
    resolved_at: datetime | None = None
    alert_ids: list[str] = Field(default_factory=list)
    alert_count: int = 0
    firing_count: int = 0
    notifications: int = 0
    duplicates: int = 0
    flapping: list[str] = Field(default_factory=list)  # alert names recognised as flapping
    held_back: list[str] = Field(default_factory=list)  # "Alertmanager held back 2 more alerts"
    first_alert: AlertBrief | None = None
    causes: list[CauseCandidate] = Field(default_factory=list)
    no_clear_cause: bool = False  # the evidence singles out no cause: the post says so, names none
    cause_note: str = ""  # why the first cause leads, or why none does
    suspect_change: ChangeEvent | None = None
    metric_breaks: list[MetricBreak] = Field(default_factory=list)  # first golden-signal break per service
    metric_note: str = ""  # why metric evidence is missing or partial (e.g. Prometheus unreachable)
    merged_into: str | None = None  # this id was merged: the incident now lives there
    merged_ids: list[str] = Field(default_factory=list)  # incidents merged into this one
    merged_by: dict[str, list[str]] = Field(default_factory=dict)  # merged id -> [who, why]
    split_from: str | None = None  # this incident was split out of that one
    split_by: str | None = None
    split_reason: str = ""
    acked_at: datetime | None = None
    acked_by: str | None = None
    resolved_by: str | None = None
    time_to_ack_s: float | None = None
    time_to_resolve_s: float | None = None


def brief(alert: Alert, *, flapping: bool = False) -> AlertBrief:
    return AlertBrief(
        id=alert.id, name=alert.name, service=alert.service, severity=alert.severity,
        status=alert.status, starts_at=alert.starts_at, ends_at=alert.ends_at,
        message=alert.message[:500], runbook_url=alert.links.runbook, flapping=flapping,
    )


def summarise(
    inc: IncidentState,
    catalog: ServiceCatalog | None,
    changes: list[ChangeEvent] | None = None,
    engine: CorrelationEngine | None = None,
    metrics: MetricEvidence | None = None,
) -> IncidentSummary:
    """The whole incident read from scratch: O(alerts). The live path keeps the per-alert
    parts up to date instead (`IncrementalSummaries`), with the same result."""
    first_of: dict[str, str] = {}
    for aid in inc.alert_ids:
        a = inc.alerts.get(aid)
        if a is not None and a.service and a.service not in first_of:
            first_of[a.service] = aid
    flapping = sorted({a.name for a in inc.alerts.values() if a.fingerprint in inc.flapping})
    held_back = sorted({a.annotations["truncated_alerts"] for a in inc.alerts.values()
                        if a.annotations.get("truncated_alerts")})
    ranked = rank_incident(inc, catalog, changes, elsewhere=_elsewhere(engine, inc.id) if engine else None,
                           metrics=metrics)
    return _assemble(inc, ranked, first_of, flapping, held_back, metrics)


def _assemble(inc: IncidentState, ranked: RankedCauses, first_of: dict[str, str],
              flapping: list[str], held_back: list[str], metrics: MetricEvidence | None = None) -> IncidentSummary:
    """The summary from the incident's O(services) state and the per-alert parts."""
    causes = ranked.causes
    first = inc.alerts.get(inc.first_alert_id)
    top = causes[0].service if causes and not ranked.abstained else (first.service if first else None)
    lead_id = first_of.get(top) if top else None  # the first alert on the top service
    lead = inc.alerts[lead_id] if lead_id is not None else first
    title = f"{lead.name} on {top}" if lead and top else (lead.name if lead else inc.id)
    if inc.merged_into:
        title = f"merged into {inc.merged_into}"
    others = len(inc.services) - 1
    if others > 0:
        title += f" (+{others} service{'s' if others > 1 else ''})"
    return IncidentSummary(
        id=inc.id,
        status=inc.status,
        severity=inc.severity,
        title=title,
        services=sorted(inc.services, key=lambda s: (inc.services[s], s)),
        opened_at=from_epoch(inc.opened_at),
        last_alert_at=from_epoch(inc.last_alert_at),
        resolved_at=from_epoch(inc.resolved_at),
        alert_ids=list(inc.alert_ids),
        alert_count=len(inc.alert_ids),
        firing_count=len(inc.firing),
        notifications=inc.events,
        duplicates=inc.duplicates,
        flapping=flapping,
        held_back=held_back,
        first_alert=brief(first) if first else None,
        causes=causes[:5],
        no_clear_cause=ranked.abstained,
        cause_note=ranked.reason,
        suspect_change=suspect_change(causes),
        metric_breaks=list(metrics.breaks) if metrics is not None else [],
        metric_note=ranked.metric_note,
        merged_into=inc.merged_into,
        merged_ids=list(inc.merged_ids),
        merged_by={k: list(v) for k, v in inc.merged_by.items()},
        split_from=inc.split_from,
        split_by=inc.split_by,
        split_reason=inc.split_reason,
    )


@dataclass(eq=False)
class _Partial:
    """The per-alert parts of one incident's summary, as of its first `n` alert ids."""

    inc: weakref.ref[IncidentState]
    n: int = 0
    last: str = ""  # alert_ids[n - 1]
    merged: int = 0  # len(inc.merged_ids) then
    split_from: str | None = None
    counted: dict[str, Alert] = field(default_factory=dict)  # alert id -> the notification counted
    first_of: dict[str, tuple[int, str]] = field(default_factory=dict)  # service -> (position, alert id)
    # what the ranking counts (cause.incident_alerts): per service its first alert and its
    # distinct fingerprints, counting a service-less alert for its pod's workload once that
    # workload is an affected service (until then it waits in `orphans`)
    rank_first: dict[str, tuple[int, str]] = field(default_factory=dict)  # service -> (position, alert id)
    rank_fps: dict[str, set[str]] = field(default_factory=dict)
    orphans: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)  # workload -> [(pos, id, fp)]
    names_by_fp: dict[str, Counter[str]] = field(default_factory=dict)  # fingerprint -> alert names
    held: Counter[str] = field(default_factory=Counter)  # truncated_alerts annotations
    pending: dict[str, None] = field(default_factory=dict)  # alert ids notified since (ordered set)

    def add(self, a: Alert, sign: int) -> None:
        names = self.names_by_fp.setdefault(a.fingerprint, Counter())
        names[a.name] += sign
        if names[a.name] <= 0:
            del names[a.name]
        held = a.annotations.get("truncated_alerts")
        if held:
            self.held[held] += sign
            if self.held[held] <= 0:
                del self.held[held]

    def credit(self, svc: str, pos: int, aid: str, fp: str) -> None:
        got = self.rank_first.get(svc)
        if got is None or pos < got[0]:
            self.rank_first[svc] = (pos, aid)
        self.rank_fps.setdefault(svc, set()).add(fp)

    def valid_for(self, inc: IncidentState) -> bool:
        """Still a prefix of this incident: nothing merged in or split out since (a split
        removes ids from the prefix, so the id at n - 1 moves)."""
        ids = inc.alert_ids
        return (self.inc() is inc and len(ids) >= self.n and (self.n == 0 or ids[self.n - 1] == self.last)
                and len(inc.alerts) == len(ids) and len(inc.merged_ids) == self.merged
                and inc.split_from == self.split_from)

    def catch_up(self, inc: IncidentState) -> None:
        ids = inc.alert_ids
        for aid in self.pending:  # notifications of alerts already counted replace them
            old = self.counted.get(aid)
            new = inc.alerts.get(aid)
            if old is None or new is None or old is new:
                continue
            if (old.service, old.fingerprint, old.labels.get("pod")) != (new.service, new.fingerprint, new.labels.get("pod")):
                raise _Stale  # moves what the ranking counts: recount (rare)
            self.add(old, -1)
            self.add(new, +1)
            self.counted[aid] = new
        for pos in range(self.n, len(ids)):
            aid = ids[pos]
            a = inc.alerts[aid]
            self.counted[aid] = a
            self.add(a, +1)
            if a.service and a.service not in self.first_of:
                self.first_of[a.service] = (pos, aid)
            if a.service:
                self.credit(a.service, pos, aid, a.fingerprint)
            else:
                workload = pod_workload(a)
                if workload:
                    self.orphans.setdefault(workload, []).append((pos, aid, a.fingerprint))
        for workload in [w for w in self.orphans if w in inc.services]:  # services only grow (a split rebuilds)
            for pos, aid, fp in self.orphans.pop(workload):
                self.credit(workload, pos, aid, fp)
        self.n = len(ids)
        self.last = ids[-1] if ids else ""
        self.merged, self.split_from = len(inc.merged_ids), inc.split_from
        self.pending = {}


class _Stale(Exception):
    """A partial that can no longer be brought up to date by adding: rebuild it."""


class IncrementalSummaries:
    """`summarise`, in O(new notifications) per call instead of O(alerts).

    Keeps, per incident, what summarise would otherwise recount over every alert (each
    service's first alert, the names of flapping fingerprints, held-back notes), brought up
    to date from the alerts added since and the notifications the caller reports through
    `touch` (a repeat notification replaces an alert's latest version). Anything it cannot
    account for rebuilds from scratch, so the result is always exactly `summarise`'s (a
    property test checks it): a merge or split rebuilds the incidents involved, and a
    notification not reported (`processed`, the engine's count of notifications, moved by
    more than was reported) rebuilds every incident."""

    def __init__(self, processed: Callable[[], int]):
        self._parts: dict[str, _Partial] = {}
        self._lock = threading.Lock()
        self._processed = processed
        self._seen = processed()
        self._reported = 0
        self.rebuilds = 0  # incidents whose parts were counted from scratch (first sight or a merge…)

    def touch(self, notified: Iterable[tuple[str, str]]) -> None:
        """(alert id, incident id) of each notification the engine processed."""
        with self._lock:
            for aid, iid in notified:
                self._reported += 1
                part = self._parts.get(iid)
                if part is not None:
                    part.pending[aid] = None

    def forget(self, incident_id: str) -> None:
        with self._lock:
            self._parts.pop(incident_id, None)

    def summarise(self, inc: IncidentState, catalog: ServiceCatalog | None,
                  changes: list[ChangeEvent] | None = None, engine: CorrelationEngine | None = None,
                  metrics: MetricEvidence | None = None) -> IncidentSummary:
        with self._lock:
            processed = self._processed()
            if processed - self._seen != self._reported:  # notifications nobody told us of
                self._parts.clear()
            self._seen, self._reported = processed, 0
            part = self._current(inc)
            first_of = {s: aid for s, (_pos, aid) in sorted(part.first_of.items(), key=lambda kv: kv[1][0])}
            names = part.names_by_fp
            flapping = sorted({n for fp in inc.flapping for n in names.get(fp, ())})
            held_back = sorted(part.held)
            counted = ({s: aid for s, (_pos, aid) in part.rank_first.items()},
                       {s: len(fps) for s, fps in part.rank_fps.items()})
        ranked = rank_incident(inc, catalog, changes, elsewhere=_elsewhere(engine, inc.id) if engine else None,
                               metrics=metrics, alerts=counted)
        return _assemble(inc, ranked, first_of, flapping, held_back, metrics)

    def _current(self, inc: IncidentState) -> _Partial:
        part = self._parts.get(inc.id)
        if part is not None and part.valid_for(inc):
            try:
                part.catch_up(inc)
                return part
            except _Stale:
                pass
        part = _Partial(inc=weakref.ref(inc, self._gone(inc.id)))
        part.catch_up(inc)
        self.rebuilds += 1
        self._parts[inc.id] = part
        return part

    def _gone(self, iid: str) -> Callable[[Any], None]:
        parts = self._parts

        def drop(ref: Any) -> None:  # the engine pruned the incident: so do we
            p = parts.get(iid)
            if p is not None and p.inc is ref:
                parts.pop(iid, None)
        return drop


def _elsewhere(engine: CorrelationEngine, incident_id: str) -> Elsewhere:
    """Siblings alerting in other incidents (a silent dependency they share?), for the ranking."""
    return lambda svc, t: engine.alerting_near(svc, t, SIBLING_WINDOW, incident_id)


def runbook_candidates(s: IncidentSummary, alerts: list[AlertBrief], limit: int = 3) -> list[AlertBrief]:
    """Which alerts to look a runbook up for, best first: those on the probable cause's
    service (an alert carrying a runbook link first), then the others; one per alert name.
    The first alert of a cascade is often a generic symptom (HighErrorRate) with no runbook,
    while the cause's own alerts (KubePodCrashLooping…) have one."""
    cause = s.causes[0].service if s.causes and not s.no_clear_cause else (s.first_alert.service if s.first_alert else None)
    ranked = sorted(
        alerts,
        key=lambda a: (a.service != cause, a.runbook_url is None, a.starts_at),
    )
    out: list[AlertBrief] = []
    for a in ranked:
        if a.name not in {b.name for b in out}:
            out.append(a)
        if len(out) == limit:
            break
    return out


def first_runbook(lookup: Callable[[str, str], Any], candidates: list[AlertBrief]) -> Any:
    """The first candidate the lookup finds a runbook for (None when none has one)."""
    for a in candidates:
        found = lookup(a.name, a.message)
        if found is not None:
            return found
    return None
