"""Store what an alert source parsed: anchor lifecycle events, run the pipeline, and (when
TRIOPS_DORA_INCIDENTS_FROM names the source) keep the incident for DORA too. Shared by the
webhooks and `triops ingest alerts`, so a file and a webhook store the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tools.alerts.sources.base import Parsed

if TYPE_CHECKING:
    from tools.alerts.pipeline import AlertPipeline, IngestResult


def ingest_parsed(pipeline: AlertPipeline, parsed: Parsed, settings: Any = None) -> IngestResult:
    from tools.alerts.pipeline import IngestResult
    from tools.alerts.sources.anchor import anchor

    if not parsed.alerts:
        return IngestResult(stored=0)
    alerts = parsed.alerts
    if parsed.anchored:
        with pipeline.lock:  # anchoring reads the store: no other batch in between
            with pipeline.store.engine.connect() as conn:
                alerts = anchor(conn, alerts, parsed.opening)
            result = pipeline.ingest(alerts)
    else:  # not under the lock: concurrent batches must meet in the pipeline's group commit
        result = pipeline.ingest(alerts)
    wanted = {s.strip() for s in str(getattr(settings, "dora_incidents_from", "") or "").split(",") if s.strip()}
    if wanted & {a.source for a in alerts}:
        dora_incidents(pipeline, [a.id for a in alerts if a.source in wanted])
    return result


def dora_incidents(pipeline: AlertPipeline, alert_ids: list[str]) -> int:
    """A PagerDuty/Opsgenie incident linked to a service, as a DORA incident (opened at its
    start, resolved at its end), read back from the stored occurrence (resolved sticks)."""
    from sqlalchemy import select

    from tools.delivery.ingest import store_incidents
    from tools.delivery.models import IncidentEvent
    from tools.store.alerts import alerts as table
    from tools.timeutil import from_epoch

    with pipeline.store.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.id.in_(alert_ids))).mappings().all()
    events = [
        IncidentEvent(
            id=f"{r['source']}-{r['fingerprint']}"[:200] + (f"-{int(r['starts_at'])}" if r["source"] == "pagerduty" else ""),
            service=r["service"],
            opened_at=from_epoch(r["starts_at"]),
            resolved_at=from_epoch(r["ends_at"]) if r["status"] == "resolved" and r["ends_at"] else None,
            severity=r["severity"],
            title=r["name"],
        )
        for r in rows if r["service"]
    ]
    return store_incidents(pipeline.store, events) if events else 0
