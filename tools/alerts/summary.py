"""Read-outs of incidents: the stable models the CLI, tools and Slack all print."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from tools.alerts.cause import (
    SIBLING_WINDOW,
    CauseCandidate,
    Elsewhere,
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
    ranked = rank_incident(inc, catalog, changes, elsewhere=_elsewhere(engine, inc.id) if engine else None,
                           metrics=metrics)
    causes = ranked.causes
    first = inc.alerts.get(inc.first_alert_id)
    top = causes[0].service if causes and not ranked.abstained else (first.service if first else None)
    lead = next(
        (inc.alerts[a] for a in inc.alert_ids if top and inc.alerts[a].service == top), first
    )
    title = f"{lead.name} on {top}" if lead and top else (lead.name if lead else inc.id)
    if inc.merged_into:
        title = f"merged into {inc.merged_into}"
    others = len(inc.services) - 1
    if others > 0:
        title += f" (+{others} service{'s' if others > 1 else ''})"
    flapping_names = sorted({a.name for a in inc.alerts.values() if a.fingerprint in inc.flapping})
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
        flapping=flapping_names,
        held_back=sorted({a.annotations["truncated_alerts"] for a in inc.alerts.values()
                          if a.annotations.get("truncated_alerts")}),
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
