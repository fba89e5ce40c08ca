"""What a human decides about an incident: confirm or reject its suspect change, merge two
incidents, split one. Every decision is recorded (who, what, when, why) and audited; a
confirmation links the incident to its deployment for DORA and can be undone.

Surfaces (Slack buttons) call these; they never touch the store's tables themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from tools.alerts.correlate import CorrelationEngine, MergeRecord
from tools.audit import record as audit
from tools.errors import ToolError
from tools.store import alerts as alert_store
from tools.store import delivery as delivery_store
from tools.timeutil import to_epoch

if TYPE_CHECKING:
    from tools.alerts.pipeline import AlertPipeline


def _now(pipeline: AlertPipeline) -> float:
    return to_epoch(pipeline.clock()) or 0.0


def confirm_cause(pipeline: AlertPipeline, incident_id: str, deployment_id: str, user: str) -> str:
    """Link the incident to the deployment it names as its suspect change: a DORA incident
    caused by that deployment (change fail rate, recovery time). Returns the DORA incident id."""
    store = pipeline.store
    with store.engine.begin() as conn:
        found = alert_store.get_incident(conn, incident_id)
        if found is None:
            raise ToolError(f"No incident {incident_id}.")
        s, _ = found
        ch = s.suspect_change
        if ch is None or ch.kind != "deployment" or ch.id != deployment_id:
            raise ToolError(f"{deployment_id} is not the suspect deployment of {s.id}.",
                            hint="Only the deployment the card names can be confirmed.")
        dora_id = delivery_store.link_confirmed_cause(
            conn, s.id, ch.id, service=ch.service, opened_at=to_epoch(s.opened_at) or 0.0,
            resolved_at=to_epoch(s.resolved_at), severity=s.severity, title=s.title,
        )
        alert_store.record_decision(conn, s.id, "confirm_cause", ch.id, user, _now(pipeline),
                                    f"{user} confirmed {ch.kind} {ch.id} of {ch.service} as the cause")
    audit(store, user, "incident.confirm_cause", s.id, deployment=ch.id, dora_incident=dora_id)
    return dora_id


def reject_cause(pipeline: AlertPipeline, incident_id: str, change_id: str, user: str) -> bool:
    """"Not this": the change is not the cause. Undoes a confirmation if there was one
    (the DORA incident goes); returns True when it did."""
    store = pipeline.store
    with store.engine.begin() as conn:
        iid = alert_store.resolve_incident_id(conn, incident_id)
        if alert_store.get_incident(conn, iid) is None:
            raise ToolError(f"No incident {incident_id}.")
        confirmed = delivery_store.confirmed_cause(conn, iid)
        undone = confirmed == change_id and delivery_store.unlink_confirmed_cause(conn, iid)
        alert_store.record_decision(conn, iid, "undo_cause" if undone else "reject_cause", change_id, user,
                                    _now(pipeline), f"{user}: not caused by {change_id}")
    audit(store, user, "incident.reject_cause", iid, change=change_id, undone_confirmation=undone)
    return bool(undone)


def _decide(pipeline: AlertPipeline, command: dict[str, Any], what: str) -> MergeRecord:
    """Applied by the correlating replica (this one, or another through the ingest log)."""
    try:
        return pipeline.decide(command)
    except (KeyError, ValueError) as exc:
        raise ToolError(f"{what}: {exc}") from exc
    except TimeoutError as exc:
        raise ToolError(f"{what}: {exc}.", hint="The card shows it once it is applied; try again if it does not.") from exc


def merge(pipeline: AlertPipeline, into: str, other: str, user: str, reason: str = "") -> MergeRecord:
    """A human merges `other` into `into` (both open, in the live engine); both ids resolve."""
    rec = _decide(pipeline, {"kind": "merge", "into": into, "other": other, "by": user,
                             "reason": reason or f"merged by {user}"}, f"Cannot merge {other} into {into}")
    audit(pipeline.store, user, "incident.merge", rec.into, merged=rec.merged, reason=rec.reason)
    return rec


def split(pipeline: AlertPipeline, incident_id: str, alert_ids: list[str], user: str, reason: str = "") -> MergeRecord:
    """A human splits these alerts out of the incident into a new one."""
    rec = _decide(pipeline, {"kind": "split", "incident": incident_id, "alert_ids": list(alert_ids), "by": user,
                             "reason": reason or f"split by {user}"}, f"Cannot split {incident_id}")
    audit(pipeline.store, user, "incident.split", rec.merged, new_incident=rec.into, alerts=len(alert_ids))
    return rec


def split_by_service(pipeline: AlertPipeline, incident_id: str, service: str, user: str) -> MergeRecord:
    """Split out the alerts of `service` and of the affected services that depend on it."""
    with pipeline.store.engine.connect() as conn:
        found = alert_store.get_incident(conn, incident_id)
    if found is None or found[0].status != "open":
        raise ToolError(f"{incident_id} is not an open incident.")
    summary, members = found
    below = {s for s in summary.services if service in pipeline.catalog.upstream(s)} | {service}
    ids = [a.id for a in members if pipeline.engine.service_of(a) in below]
    return split(pipeline, summary.id, ids, user, reason=f"{user} split out {service} and what depends on it")


def open_incident_choices(pipeline: AlertPipeline, exclude: str, limit: int = 20) -> list[tuple[str, str]]:
    """(id, title) of the other open incidents, newest first: what a merge can pick from."""
    with pipeline.store.engine.connect() as conn:
        rows = alert_store.list_incidents(conn, status="open", limit=limit + 1)
    return [(s.id, s.title) for s in rows if s.id != exclude][:limit]


def restore_decisions(engine: CorrelationEngine, conn: Connection, incident_ids: Sequence[str]) -> int:
    """After a restart: replay the recorded merges and splits of these (restored, open)
    incidents onto the engine, oldest first. Returns how many were replayed."""
    n = 0
    for iid in incident_ids:
        for d in alert_store.decisions_of(conn, iid):
            if d["action"] in ("merge", "split") and d["target"]:
                engine.restore_decision(d["action"], iid, d["target"], by=d["by"], at=float(d["at"]),
                                        reason=d["reason"] or "")
                n += 1
    return n


def decisions(pipeline: AlertPipeline, incident_id: str) -> list[dict[str, Any]]:
    with pipeline.store.engine.connect() as conn:
        return alert_store.decisions_of(conn, alert_store.resolve_incident_id(conn, incident_id))
