"""The live alert path: persist first, then correlate, then save the incidents it touched.

One `AlertPipeline` per process (webhooks and the CLI share it). It rebuilds the engine's
open incidents from the store on start, so a restart loses no grouping.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tools.alerts.cause import change_window
from tools.alerts.changes import ChangeProvider, default_providers, gather_changes
from tools.alerts.correlate import CorrelationConfig, CorrelationEngine
from tools.alerts.metric_evidence import IncidentMetrics, MetricProvider
from tools.alerts.models import Alert, ChangeEvent
from tools.alerts.parsers import ACKED_BY
from tools.alerts.summary import IncidentSummary, summarise
from tools.catalog import ServiceCatalog
from tools.errors import PayloadError
from tools.store import alerts as alert_store
from tools.store import parked as parked_store
from tools.timebounds import DEFAULT_YEARS, check_time
from tools.timeutil import from_epoch, now_utc, to_epoch

if TYPE_CHECKING:
    from tools.store import Store

log = logging.getLogger("triops.alerts")
# Alert fields the model leaves unbounded, and their column sizes (PostgreSQL enforces them).
_COLUMN_LIMITS = {"source": 64, "service": 128}


class IngestResult(BaseModel):
    stored: int
    alert_ids: list[str] = Field(default_factory=list)
    incidents: list[str] = Field(default_factory=list)  # incidents opened or changed
    opened: list[str] = Field(default_factory=list)
    parked: list[str] = Field(default_factory=list)  # stored, but correlating them failed


class AlertPipeline:
    def __init__(
        self,
        store: Store,
        catalog: ServiceCatalog | None = None,
        *,
        config: CorrelationConfig | None = None,
        providers: Sequence[ChangeProvider] | None = None,
        clock: Callable[[], datetime] = now_utc,
        restore: bool = True,
        time_bound_years: float = DEFAULT_YEARS,
        max_group: int = 5000,
        metrics: MetricProvider | None = None,
    ):
        self.store = store
        self.time_bound_years = time_bound_years
        self.catalog = catalog or ServiceCatalog()
        self.engine = CorrelationEngine(self.catalog, config)  # tick() prunes what it no longer needs
        self.providers = list(default_providers() if providers is None else providers)
        self.clock = clock
        self.lock = threading.RLock()
        self.max_group = max_group
        self._pending: list[tuple[list[Alert], Future[IngestResult]]] = []
        self._pending_lock = threading.Lock()
        self._changes: dict[str, tuple[tuple[str, ...], list[ChangeEvent]]] = {}
        self.metrics = IncidentMetrics(metrics, self.catalog) if metrics else None  # golden-signal breaks
        self.listeners: list[Callable[[list[str]], None]] = []  # e.g. the Slack notifier
        if restore:
            self.restore()

    def restore(self) -> int:
        with self.store.engine.connect() as conn:
            rows = alert_store.open_incidents_for_restore(conn)
            for iid, opened, members in rows:
                self.engine.restore(iid, opened, members)
            from tools.alerts.decisions import restore_decisions

            restore_decisions(self.engine, conn, [r[0] for r in rows])  # the merges and splits made so far
        if rows:
            log.info("restored %d open alert incidents from the store", len(rows))
        return len(rows)

    def check(self, batch: Sequence[Alert]) -> None:
        """Every time in range (PayloadError naming the field) before anything is stored or
        computed: a year-9999 start would overflow correlation and poison its service."""
        now = self.clock()
        for i, a in enumerate(batch):
            where = f"alerts[{i}]" if len(batch) > 1 else "alert"
            check_time(a.starts_at, f"{where}.starts_at", now=now, years=self.time_bound_years)
            check_time(a.ends_at, f"{where}.ends_at", now=now, years=self.time_bound_years)
            for field, limit in _COLUMN_LIMITS.items():
                value = getattr(a, field)
                if isinstance(value, str) and len(value) > limit:
                    raise PayloadError(f"{where}.{field}: longer than {limit} characters")

    def ingest(self, batch: Sequence[Alert]) -> IngestResult:
        """Store the alerts (committed before anything else), then correlate them.

        Group commit: concurrent callers' batches queue up and one of them (the one holding
        the lock) stores the whole queue in one transaction, correlates it in order and
        saves the incidents once; each caller returns after the group holding its batch
        committed, so an acknowledged alert is still never lost, at a fraction of the
        transactions (and of the incident summaries) per notification.

        One alert whose correlation fails is parked (logged with a reference, counted in
        the stats), never a reason to fail the batch or the next alerts of its service."""
        self.check(batch)  # a bad batch is refused alone, before it can join a group
        mine: Future[IngestResult] = Future()
        with self._pending_lock:
            self._pending.append((list(batch), mine))
        touched: list[str] = []
        with self.lock:
            if not mine.done():  # nobody took it into their group: lead one
                with self._pending_lock:
                    group: list[tuple[list[Alert], Future[IngestResult]]] = []
                    size = 0
                    while self._pending and (not group or size + len(self._pending[0][0]) <= self.max_group):
                        item = self._pending.pop(0)
                        group.append(item)
                        size += len(item[0])
                try:
                    touched = self._ingest_group(group)
                except BaseException as exc:  # the group failed to commit: every caller hears it
                    for _b, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    raise
        self._notify(touched)
        return mine.result()

    def _ingest_group(self, group: list[tuple[list[Alert], Future[IngestResult]]]) -> list[str]:
        now = to_epoch(self.clock()) or 0.0
        alerts = [a for b, _f in group for a in b]
        parked: list[dict] = []
        with self.store.engine.begin() as conn:
            alert_store.upsert_alerts(conn, alerts, now)
        placements = []
        placed: dict[str, tuple[str, str]] = {}
        for a in sorted(alerts, key=lambda x: x.event_time):
            try:
                _representable(a, self.engine.config)
                p = self.engine.process(a)
            except Exception as exc:  # isolate: park this alert, keep correlating the rest
                parked.append(self._park_row(a, exc, now))
                continue
            placements.append((p.alert_id, p.incident_id, p.kind, a.event_time))
            placed[p.alert_id] = (p.incident_id, p.kind)
        self.engine.advance(now)
        touched = self._save(placements, parked, now)
        self._record_source_acks(alerts, placements, now)
        parked_ids = {r["alert_id"] for r in parked}
        for b, fut in group:
            ids = list(dict.fromkeys(a.id for a in b))
            own = [placed[i] for i in ids if i in placed]
            incidents = sorted({iid for iid, _k in own})
            fut.set_result(IngestResult(
                stored=len(b),
                alert_ids=[i for i in ids if i in placed],
                incidents=touched if len(group) == 1 else [i for i in touched if i in incidents],
                opened=sorted({iid for iid, k in own if k == "opened"}),
                parked=[i for i in ids if i in parked_ids],
            ))
        return touched

    def _park_row(self, a: Alert, exc: BaseException, now: float, why: str = "correlation failed") -> dict:
        ref = uuid.uuid4().hex[:8]
        log.error("alert %s (%s) parked [ref %s]: %s: %r", a.id, a.service, ref, why, exc, exc_info=exc)
        return {"alert_id": a.id, "service": a.service, "ref": ref,
                "reason": f"{why}: {type(exc).__name__}: {exc}"[:2000], "parked_at": now}

    def _record_source_acks(self, batch: Sequence[Alert], placements: Sequence[tuple[str, str, str, float]], now: float) -> None:
        """An acknowledgement in PagerDuty or Opsgenie acknowledges the incident here too."""
        incident_of = {aid: iid for aid, iid, _k, _t in placements}
        acks = [(incident_of[a.id], a.annotations[ACKED_BY], a.source) for a in batch
                if a.annotations.get(ACKED_BY) and a.id in incident_of]
        if not acks:
            return
        with self.store.engine.begin() as conn:
            for iid, user, source in acks:
                alert_store.record_action(conn, iid, "ack", user, now, surface=source)

    def tick(self) -> list[str]:
        """Advance to the wall clock: incidents whose quiet period passed resolve."""
        now = to_epoch(self.clock()) or 0.0
        with self.lock:
            self.engine.advance(now)
            touched = self._save([])
            self.engine.prune(now - self.engine.config.flap_window - self.engine.config.window)
            for iid in [i for i in self._changes if i not in self.engine.incidents]:
                del self._changes[iid]
            if self.metrics:
                self.metrics.forget(self.engine.incidents)
        self._notify(touched)
        return touched

    def acknowledge(self, incident_id: str, user: str, surface: str = "slack") -> bool:
        now = to_epoch(self.clock()) or 0.0
        with self.store.engine.begin() as conn:
            ok = alert_store.record_action(conn, incident_id, "ack", user, now, surface)
        if ok:
            self._notify([incident_id])
        return ok

    def record_view(self, incident_id: str, user: str, surface: str = "slack") -> bool:
        now = to_epoch(self.clock()) or 0.0
        with self.store.engine.begin() as conn:
            return alert_store.record_action(conn, incident_id, "show", user, now, surface)

    def resolve_by_hand(self, incident_id: str, user: str, surface: str = "slack") -> bool:
        now = to_epoch(self.clock()) or 0.0
        with self.lock, self.store.engine.begin() as conn:
            ok = alert_store.record_action(conn, incident_id, "resolve", user, now, surface)
            inc = self.engine.incidents.get(incident_id)
            if ok and inc is not None and inc.is_open:
                inc.status = "resolved"
                inc.resolved_at = now
        if ok:
            self._notify([incident_id])
        return ok

    def summary(self, incident_id: str) -> IncidentSummary | None:
        inc = self.engine.incidents.get(incident_id)
        if inc is None:
            return None
        metrics = self.metrics.get(incident_id, inc.services) if self.metrics else None
        return summarise(inc, self.catalog, self._changes_for(incident_id), self.engine, metrics)

    def _save(self, placements: Sequence[tuple[str, str, str, float]], parked: Sequence[dict] = (),
              now: float | None = None) -> list[str]:
        dirty = sorted(self.engine.take_dirty())
        summaries = []
        parked = list(parked)
        for iid in dirty:
            try:
                s = self.summary(iid)
            except Exception as exc:  # one incident that cannot be summarised must not block the rest
                inc = self.engine.incidents.get(iid)
                known = inc.alerts if inc is not None else {}
                members = [known[aid] for aid, i, _k, _t in placements if i == iid and aid in known]
                ref = uuid.uuid4().hex[:8]
                log.error("incident %s not summarised [ref %s]: %r", iid, ref, exc, exc_info=exc)
                at = now if now is not None else (to_epoch(self.clock()) or 0.0)
                parked += [{"alert_id": a.id, "service": a.service, "ref": ref,
                            "reason": f"incident {iid} not summarised: {type(exc).__name__}: {exc}"[:2000],
                            "parked_at": at} for a in members]
                continue
            if s is not None:
                summaries.append(s)
        with self.store.engine.begin() as conn:
            alert_store.assign(conn, placements)
            alert_store.save_incidents(conn, summaries)
            parked_store.park(conn, parked)
        return dirty

    def _changes_for(self, incident_id: str) -> list[ChangeEvent]:
        inc = self.engine.incidents[incident_id]
        services = tuple(sorted(inc.services))
        cached = self._changes.get(incident_id)
        if cached is not None and cached[0] == services:
            return cached[1]
        if not services or not self.providers:
            return []
        wanted = set(services)
        for s in services:  # a dependency that changed without alerting is a suspect too
            wanted.update(self.catalog.dependencies(s))
        first = inc.alerts[inc.first_alert_id].starts_at if inc.first_alert_id in inc.alerts else self.clock()
        start, end = change_window(first)
        with self.store.engine.connect() as conn:
            changes = gather_changes(conn, self.providers, sorted(wanted), start, end)
        self._changes[incident_id] = (services, changes)
        return changes

    def _notify(self, incident_ids: list[str]) -> None:
        if not incident_ids:
            return
        for listener in self.listeners:
            try:
                listener(incident_ids)
            except Exception as exc:  # a notifier failure must not fail the webhook
                log.warning("incident listener failed: %s", exc)


def _representable(a: Alert, config: CorrelationConfig) -> None:
    """Refuse, before the engine sees it, an alert whose times plus the correlation windows
    cannot be datetimes (e.g. 9999-12-31 let through a wide TRIOPS_TIME_BOUND_YEARS): inside
    the engine it would poison its incident and every later alert of its service."""
    margin = 2 * (config.window + config.flap_window) + 86400.0
    for t in (to_epoch(a.starts_at), to_epoch(a.ends_at)):
        if t is not None:
            from_epoch(t - margin)
            from_epoch(t + margin)
