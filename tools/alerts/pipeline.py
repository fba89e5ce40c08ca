"""The live alert path: persist first, then correlate, then save the incidents it touched.

One `AlertPipeline` per process (webhooks and the CLI share it). Several processes (the
replicas of `triops serve`) may share one database; they agree because exactly one of
them correlates: every replica stores each alert and appends it to the ordered ingest log
(tools/store/alert_log.py) in the same transaction, and the replica holding the
correlator lease (tools/store/lease.py) consumes that log in order from its recorded
position, saving the incidents and its new position together. The holder correlates its
own batches at once (so a single process behaves as it always did); the others' batches
it drains within a poll. On the holder's death the lease expires, another replica takes
it, rebuilds the open incidents from the store and resumes from the saved position.

Nothing slow that a cache can answer is waited for under the pipeline's lock: metric
evidence (Prometheus) is read in the background (tools/alerts/metric_evidence.py), and
the incident is saved again when it arrives, so its card updates through the outbox.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tools.alerts.cause import change_window
from tools.alerts.changes import ChangeProvider, default_providers, gather_changes
from tools.alerts.correlate import CorrelationConfig, CorrelationEngine, MergeRecord
from tools.alerts.lease import LeaseLost, process_holder
from tools.alerts.metric_evidence import IncidentMetrics, MetricProvider
from tools.alerts.models import Alert, ChangeEvent
from tools.alerts.parsers import ACKED_BY
from tools.alerts.summary import IncidentSummary, IncrementalSummaries
from tools.catalog import ServiceCatalog
from tools.errors import PayloadError
from tools.store import alert_log as log_store
from tools.store import alerts as alert_store
from tools.store import lease as lease_store
from tools.store import outbox as outbox_store
from tools.store import parked as parked_store
from tools.timebounds import DEFAULT_YEARS, check_time
from tools.timeutil import from_epoch, now_utc, to_epoch

if TYPE_CHECKING:
    from tools.store import Store

log = logging.getLogger("triops.alerts")
# Alert fields the model leaves unbounded, and their column sizes (PostgreSQL enforces them).
_COLUMN_LIMITS = {"source": 64, "service": 128}
LEASE = "alert-correlator"
_READ_CHUNK = 5000  # log rows correlated (and saved) per transaction when draining
POISON_TRIES = 3  # a log chunk failing this often is retried row by row; a row failing so, parked
# errors of the database's availability (down, locked, pool exhausted): retried, never a poison
_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)


class IngestResult(BaseModel):
    stored: int
    alert_ids: list[str] = Field(default_factory=list)
    incidents: list[str] = Field(default_factory=list)  # incidents opened or changed (empty when
    # another replica correlates: the alerts are stored and logged, it places them within a poll)
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
        holder: str | None = None,
        lease_ttl: float = 5.0,
        metrics: MetricProvider | None = None,
    ):
        self.store = store
        self.time_bound_years = time_bound_years
        self.catalog = catalog or ServiceCatalog()
        self.config = config
        self.engine = CorrelationEngine(self.catalog, config)  # tick() prunes what it no longer needs
        self.holder = holder or process_holder()
        self.lease_ttl = lease_ttl
        self.outbox = False  # True once a Slack poster is installed: saves enqueue card posts
        self._epoch: int | None = None  # the lease epoch the engine's state belongs to (None: not owner)
        self._position = 0  # the last log seq the engine has correlated
        self._trusted_until = 0.0  # monotonic: the lease is renewed after this
        self._progress_at = 0.0  # monotonic: the last time this owner held the lease or saved
        self.stall_s = max(30.0, 6 * lease_ttl)  # renew_lease stops for an owner stuck this long
        self._failures: dict[int, tuple[int, str]] = {}  # log position -> (failed tries, last error)
        self._careful_upto = 0  # correlate row by row up to this seq (a chunk there kept failing)
        self.providers = list(default_providers() if providers is None else providers)
        self.clock = clock
        self.lock = threading.RLock()
        self.max_group = max_group
        self._pending: list[tuple[list[Alert], Future[IngestResult]]] = []
        self._pending_lock = threading.Lock()
        self._changes: dict[str, tuple[tuple[str, ...], list[ChangeEvent]]] = {}
        # golden-signal breaks, read off the lock: an incident whose evidence arrives is saved again
        self.metrics = IncidentMetrics(metrics, self.catalog, on_ready=self._evidence_arrived) if metrics else None
        self._refresh: set[str] = set()  # incidents to save again (their evidence arrived)
        self._refresh_lock = threading.Lock()
        self.listeners: list[Callable[[list[str]], None]] = []  # e.g. the Slack notifier
        self._summaries = IncrementalSummaries(lambda: self.engine.stats["events"])  # O(new alerts) per save
        if restore:
            self.restore()

    # --- ownership ------------------------------------------------------------------------
    @property
    def is_owner(self) -> bool:
        return self._epoch is not None

    def restore(self) -> int:
        """Become the correlator if no live replica is (rebuilding the open incidents from
        the store); returns how many incidents were restored (0 when another correlates)."""
        with self.lock:
            self._epoch = None
            self._trusted_until = 0.0
            return self._ensure_owner()[1]

    def _ensure_owner(self) -> tuple[bool, int]:
        """Hold the correlator lease, renewing it when due; on gaining it, rebuild the engine
        from the store. Returns (owner?, incidents restored now). Call with `self.lock`."""
        now = time.monotonic()
        if now < self._trusted_until:  # the owner within its renewal period; a follower between tries
            return self._epoch is not None, 0
        with self.store.engine.begin() as conn:
            held = lease_store.acquire(conn, LEASE, self.holder, self.lease_ttl)
        if held is None:
            if self._epoch is not None:
                log.warning("correlator lease lost to another replica: this one stops correlating")
                self._drop_engine()
            self._trusted_until = now + min(1.0, self.lease_ttl / 5)  # try again in a moment
            return False, 0
        self._trusted_until = now + self.lease_ttl / 3
        self._progress_at = now
        if self._epoch == held.epoch:
            return True, 0
        restored = self._load(held.epoch, held.position)
        return True, restored

    def _load(self, epoch: int, position: int) -> int:
        """A fresh engine with the store's open incidents, at the lease's position."""
        self.engine = CorrelationEngine(self.catalog, self.config)
        self._changes.clear()
        with self.store.engine.connect() as conn:
            rows = alert_store.open_incidents_for_restore(conn)
            for iid, opened, members in rows:
                self.engine.restore(iid, opened, members)
            from tools.alerts.decisions import restore_decisions

            restore_decisions(self.engine, conn, [r[0] for r in rows])  # the merges and splits made so far
            from tools.alerts.metric_evidence import awaiting

            unread = awaiting(conn)  # its reader stopped or lost the lease: saved again, read here
        with self._refresh_lock:
            self._refresh.update(unread)
        self._epoch, self._position = epoch, position
        log.info("correlating alerts (lease epoch %d, from log position %d); restored %d open incidents",
                 epoch, position, len(rows))
        return len(rows)

    def _drop_engine(self) -> None:
        """Not (or no longer surely) the owner: keep no state that could diverge from the store."""
        self.engine = CorrelationEngine(self.catalog, self.config)
        self._changes.clear()
        self._epoch = None
        self._trusted_until = 0.0

    def renew_lease(self) -> bool:
        """Renew the lease without `self.lock` (a heartbeat: the ticker calls it), so a save
        that takes longer than the lease (slow change providers, a slow database) does not
        lose it to another replica mid-save. An owner that made no progress for `stall_s`
        is no longer renewed: a wedged correlator hands over. False when not renewed."""
        epoch, started = self._epoch, time.monotonic()
        if epoch is None or started - self._progress_at > self.stall_s:
            return False
        with self.store.engine.begin() as conn:
            ok = lease_store.renew(conn, LEASE, self.holder, epoch, self.lease_ttl)
        if not ok:
            self._trusted_until = 0.0  # the next round finds out who holds it and drops the engine
        elif self._epoch == epoch:
            self._trusted_until = max(self._trusted_until, started + self.lease_ttl / 3)
        return ok

    def release(self) -> None:
        """Hand the lease over at once (shutdown): another replica need not wait for expiry."""
        with self.lock:
            if self._epoch is None:
                return
            try:
                with self.store.engine.begin() as conn:
                    lease_store.release(conn, LEASE, self.holder)
                    log_store.trim(conn, self._position)  # correlated and saved: not needed again
            finally:
                self._drop_engine()

    def __enter__(self) -> AlertPipeline:
        return self

    def __exit__(self, *_exc: object) -> None:
        """A short-lived pipeline (the CLI, the demo) saves the metric evidence still being
        read, then hands the lease over, so a `triops serve` started right after correlates
        at once rather than after the expiry."""
        if not self.settle(timeout=60.0):
            log.warning("metric evidence still being read after 60 s: the next correlator reads it again")
        self.release()

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
        with self.store.engine.begin() as conn:
            alert_store.upsert_alerts(conn, alerts, now)
            first, last = log_store.append(conn, alerts, now)
        # stored and logged: from here on a failure delays correlation, it loses nothing
        touched: list[str] = []
        placed: dict[str, tuple[str, str]] = {}
        parked_ids: set[str] = set()
        try:
            if self._ensure_owner()[0] and not alerts:  # the clock still moves: quiet incidents resolve
                touched = self._correlate_chunk([], self._position, placed, parked_ids)
            elif self.is_owner:
                touched = self._correlate(last, placed, parked_ids, mine=(first, alerts))
        except LeaseLost:
            log.warning("correlator lease lost mid-batch: the new owner correlates it from the log")
            self._drop_engine()
        except Exception:  # the store hiccuped while saving: rebuild and redo from the log later
            log.exception("correlating a stored batch failed; it is retried from the ingest log")
            self._drop_engine()
            touched = []
        for b, fut in group:
            ids = list(dict.fromkeys(a.id for a in b))
            own = [placed[i] for i in ids if i in placed]
            incidents = sorted({iid for iid, _k in own})
            fut.set_result(IngestResult(
                stored=len(b),
                alert_ids=[i for i in ids if i not in parked_ids],
                incidents=touched if len(group) == 1 else [i for i in touched if i in incidents],
                opened=sorted({iid for iid, k in own if k == "opened"}),
                parked=[i for i in ids if i in parked_ids],
            ))
        return touched

    def _correlate(self, upto: int | None, placed: dict[str, tuple[str, str]], parked_ids: set[str],
                   mine: tuple[int, list[Alert]] | None = None) -> list[str]:
        """Correlate the log after the engine's position (through `upto`, or all of it) in
        order, saving each chunk with its position. `mine`: the batch just logged from seq
        `first` on, correlated from memory when nothing of another replica precedes it.
        Owner only, with `self.lock` held. Returns the incidents touched."""
        touched: dict[str, None] = {}
        chunk: Sequence[Alert | dict]
        while upto is None or self._position < upto:
            at = self._position
            tries, error = self._failures.get(at, (0, ""))
            if tries >= POISON_TRIES and at >= self._careful_upto:  # a whole chunk kept failing:
                self._careful_upto = at + _READ_CHUNK  # find its bad row, trying each row alone
                tries = 0
                self._failures[at] = (0, error)
            careful = at < self._careful_upto
            if mine is not None and at == mine[0] - 1 and upto is not None and not careful:
                chunk, last = mine[1], upto
            else:
                with self.store.engine.connect() as conn:
                    rows = log_store.read_after(conn, at, 1 if careful else _READ_CHUNK)
                if not rows:
                    break
                chunk, last = [a for _s, a in rows], rows[-1][0]
            try:
                if careful and tries >= POISON_TRIES:
                    touched.update(dict.fromkeys(self._park_poison(chunk[0], last, parked_ids)))
                else:
                    touched.update(dict.fromkeys(self._correlate_chunk(chunk, last, placed, parked_ids)))
            except LeaseLost:
                raise
            except _TRANSIENT:
                raise  # the database is unavailable, not this chunk: the next round retries it
            except Exception as exc:  # the caller drops the engine; this chunk may be a poison
                self._failures[at] = (tries + 1, f"{type(exc).__name__}: {exc}"[:500])
                raise
            self._failures = {k: v for k, v in self._failures.items() if k >= self._position}
        return list(touched)

    @property
    def stalled(self) -> dict | None:
        """The log position correlation keeps failing at (with the tries and the last error),
        None while it moves: readiness shows it; after POISON_TRIES the row is parked."""
        if not self._failures:
            return None
        at = min(self._failures)
        tries, error = self._failures[at]
        return {"position": at, "tries": tries, "error": error}

    def _park_poison(self, entry: Alert | dict, seq: int, parked_ids: set[str]) -> list[str]:
        """One log row that failed correlating POISON_TRIES times on its own: park its alert
        (a command is logged and skipped) and move past it, so later alerts are placed."""
        tries, error = self._failures.get(self._position, (0, ""))
        now = to_epoch(self.clock()) or 0.0
        why = f"log seq {seq} failed correlating {tries} times"
        parked = []
        if isinstance(entry, Alert):
            parked.append(self._park_row(entry, RuntimeError(error), now, why))
        else:
            log.error("decision %s skipped: %s: %s", entry, why, error)
        touched = self._save([], parked, now, position=seq)
        parked_ids.update(r["alert_id"] for r in parked)
        return touched

    def _correlate_chunk(self, chunk: Sequence[Alert | dict], last: int, placed: dict[str, tuple[str, str]],
                         parked_ids: set[str]) -> list[str]:
        now = to_epoch(self.clock()) or 0.0
        parked: list[dict] = []
        placements = []
        alerts = [a for a in chunk if isinstance(a, Alert)]
        refused: list[tuple[dict, str]] = []
        run: list[Alert] = []
        for entry in [*chunk, None]:  # in log order: a decision sees exactly the alerts before it
            if isinstance(entry, Alert):
                run.append(entry)
                continue
            for a in sorted(run, key=lambda x: x.event_time):  # within a run, in event time
                try:
                    _representable(a, self.engine.config)
                    p = self.engine.process(a)
                except Exception as exc:  # isolate: park this alert, keep correlating the rest
                    parked.append(self._park_row(a, exc, now))
                    continue
                placements.append((p.alert_id, p.incident_id, p.kind, a.event_time))
                placed[p.alert_id] = (p.incident_id, p.kind)
            run = []
            if entry is None:
                break
            try:  # decided on another replica
                self._apply(entry)
            except (KeyError, ValueError) as exc:  # recorded: the deciding replica tells its user why
                log.warning("decision %s not applied: %s", entry, exc)
                refused.append((entry, str(exc)))
        self.engine.advance(now)
        touched = self._save(placements, parked, now, position=last, refused=refused,
                             acks=_source_acks(alerts, placements))
        parked_ids.update(r["alert_id"] for r in parked)
        return touched

    # --- human decisions ----------------------------------------------------------------------
    def decide(self, command: dict, timeout: float = 10.0) -> MergeRecord:
        """A human's merge ({"kind": "merge", "into", "other", "by", "reason"}) or split
        ({"kind": "split", "incident", "alert_ids", "by", "reason"}), applied by the
        correlating replica: at once when it is this one, else handed over through the
        ingest log and awaited (the decision it records) for up to `timeout` seconds.
        KeyError/ValueError when it cannot apply; TimeoutError when nobody applied it."""
        now = to_epoch(self.clock()) or 0.0
        command = {**command, "at": now, "ref": uuid.uuid4().hex[:12]}
        with self.lock:
            if self._ensure_owner()[0]:
                try:
                    rec = self._apply(command)
                    touched = self._save([], now=now)
                except LeaseLost:
                    self._drop_engine()
                except BaseException:  # refused or unsaved: the engine may be ahead of the store
                    self._drop_engine()
                    raise
                else:
                    self._notify(touched)
                    return rec
        with self.store.engine.begin() as conn:
            after = alert_store.last_decision_id(conn)
            log_store.append_command(conn, command["kind"], command, now)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.store.engine.connect() as conn:
                row = alert_store.find_decision(conn, command, after)
            if row is not None and row["action"] == "refused":  # the correlator could not apply it
                raise ValueError(row["reason"].split("] ", 1)[-1])
            if row is not None:
                return MergeRecord(into=row["incident_id"], merged=row["target"], at=row["at"], by=row["by"],
                                   reason=row["reason"])
            time.sleep(0.1)
        raise TimeoutError("the correlating replica did not apply the decision in time")

    def _apply(self, command: dict) -> MergeRecord:
        kind, by, at, reason = command["kind"], command["by"], command.get("at"), command.get("reason", "")
        if kind == "merge":
            return self.engine.merge(command["into"], command["other"], by=by, at=at, reason=reason)
        if kind == "split":
            return self.engine.split(command["incident"], command["alert_ids"], by=by, at=at, reason=reason)
        raise ValueError(f"unknown decision {kind!r}")

    def drain(self) -> list[str]:
        """Take the lease if it is free, and as the owner correlate what the other replicas
        logged since the engine's position. Returns the incidents touched."""
        placed: dict[str, tuple[str, str]] = {}
        with self.lock:
            try:
                if not self._ensure_owner()[0]:
                    return []
                touched = self._correlate(None, placed, set())
            except LeaseLost:
                log.warning("correlator lease lost while draining")
                self._drop_engine()
                return []
            except BaseException:
                self._drop_engine()  # rebuilt from the store on the next drain
                raise
        self._notify(touched)
        return touched

    def _park_row(self, a: Alert, exc: BaseException, now: float, why: str = "correlation failed") -> dict:
        ref = uuid.uuid4().hex[:8]
        log.error("alert %s (%s) parked [ref %s]: %s: %r", a.id, a.service, ref, why, exc, exc_info=exc)
        return {"alert_id": a.id, "service": a.service, "ref": ref,
                "reason": f"{why}: {type(exc).__name__}: {exc}"[:2000], "parked_at": now}

    def tick(self) -> list[str]:
        """Advance to the wall clock: incidents whose quiet period passed resolve."""
        now = to_epoch(self.clock()) or 0.0
        with self.lock:
            try:
                if not self._ensure_owner()[0]:
                    return []
                self._sync_hand_resolved(now)
                self.engine.advance(now)
                touched = self._save([], trim=True)
            except LeaseLost:
                self._drop_engine()
                return []
            except BaseException:
                self._drop_engine()
                raise
            self.engine.prune(now - self.engine.config.flap_window - self.engine.config.window)
            for iid in [i for i in self._changes if i not in self.engine.incidents]:
                del self._changes[iid]
            if self.metrics:
                self.metrics.forget(self.engine.incidents)
        self._notify(touched)
        return touched

    def _sync_hand_resolved(self, now: float) -> None:
        """An incident resolved by hand on another replica (after its last alert) is resolved
        in this engine too, and saved so; a later re-fire reopens it as usual."""
        open_ids = [i for i, inc in self.engine.incidents.items() if inc.is_open]
        if not open_ids:
            return
        with self.store.engine.connect() as conn:
            done = alert_store.hand_resolved_at(conn, open_ids)
        for iid, at in done.items():
            inc = self.engine.incidents[iid]
            if at >= inc.last_event_at:
                inc.status = "resolved"
                inc.resolved_at = at
                self.engine.dirty.add(iid)

    def acknowledge(self, incident_id: str, user: str, surface: str = "slack") -> bool:
        now = to_epoch(self.clock()) or 0.0
        with self.store.engine.begin() as conn:
            ok = alert_store.record_action(conn, incident_id, "ack", user, now, surface)
            if ok and self.outbox:
                outbox_store.enqueue(conn, [incident_id])
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
            if ok and self.outbox:
                outbox_store.enqueue(conn, [incident_id])
            inc = self.engine.incidents.get(incident_id)
            if ok and inc is not None and inc.is_open:
                inc.status = "resolved"
                inc.resolved_at = now
        if ok:
            self._notify([incident_id])
        return ok

    def _evidence_arrived(self, incident_id: str) -> None:
        """The background read of an incident's metric evidence finished (IncidentMetrics):
        save the incident again, so its card shows the evidence. If this save fails, the
        next save (the ticker's, within seconds) carries it."""
        with self.lock:
            with self._refresh_lock:  # under the lock: a save begun before the arrival clears what it saw
                self._refresh.add(incident_id)
            try:  # never takes the lease (e.g. after the hand-over at shutdown): the owner reads its own
                if self._epoch is None or not self._ensure_owner()[0]:
                    return
                touched = self._save([])
            except LeaseLost:
                self._drop_engine()
                return
            except Exception:
                self._drop_engine()  # rebuilt from the store; the evidence is cached, saved next round
                raise
        self._notify(touched)

    def settle(self, timeout: float | None = None) -> bool:
        """Wait for the metric evidence being read to arrive and be saved (True when none is
        left). Never call it holding `self.lock`: the arrival saves under it."""
        return self.metrics.settle(timeout) if self.metrics is not None else True

    def summary(self, incident_id: str) -> IncidentSummary | None:
        """The incident's summary now; its metric evidence as read so far (never waited for)."""
        inc = self.engine.incidents.get(incident_id)
        if inc is None:
            return None
        metrics = self.metrics.get(incident_id, inc.services) if self.metrics else None
        return self._summaries.summarise(inc, self.catalog, self._changes_for(incident_id), self.engine, metrics)

    def _save(self, placements: Sequence[tuple[str, str, str, float]], parked: Sequence[dict] = (),
              now: float | None = None, *, position: int | None = None, trim: bool = False,
              refused: Sequence[tuple[dict, str]] = (), acks: Sequence[tuple[str, str, str]] = ()) -> list[str]:
        """Write the placements and the changed incidents with the engine's new log position,
        fenced by the lease (LeaseLost: another replica took over; nothing is written)."""
        with self._refresh_lock:  # cleared once saved: a failed save leaves them for the next
            refresh = set(self._refresh)
        dirty = sorted(self.engine.take_dirty() | {i for i in refresh if i in self.engine.incidents})
        self._summaries.touch((aid, iid) for aid, iid, _k, _t in placements)
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
        new_position = self._position if position is None else position
        with self.store.engine.begin() as conn:
            if self._epoch is not None and not lease_store.advance(
                conn, LEASE, self.holder, self._epoch, self._position, new_position
            ):
                raise LeaseLost(LEASE)
            alert_store.assign(conn, placements)
            alert_store.save_incidents(conn, summaries)
            parked_store.park(conn, parked)
            at_now = now if now is not None else (to_epoch(self.clock()) or 0.0)
            for iid, user, source in acks:  # with the position: an ack is never lost nor recorded twice
                alert_store.record_action(conn, iid, "ack", user, at_now, surface=source)
            for command, why in refused:
                target = command.get("other") if command.get("kind") == "merge" else command.get("incident")
                alert_store.record_decision(conn, str(target)[:40], "refused", target, str(command.get("by", "")),
                                            float(command.get("at") or 0.0),
                                            f"[{command.get('ref', '')}] {command.get('kind')}: {why}")
            if self.outbox:
                outbox_store.enqueue(conn, dirty)
            if trim:
                log_store.trim(conn, new_position)
        if refresh:
            with self._refresh_lock:
                self._refresh -= refresh
        self._position = new_position
        self._progress_at = time.monotonic()
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


def _source_acks(batch: Sequence[Alert], placements: Sequence[tuple[str, str, str, float]]) -> list[tuple[str, str, str]]:
    """(incident, user, source) of each alert acknowledged in PagerDuty or Opsgenie: it
    acknowledges its incident here too."""
    incident_of = {aid: iid for aid, iid, _k, _t in placements}
    return [(incident_of[a.id], a.annotations[ACKED_BY], a.source) for a in batch
            if a.annotations.get(ACKED_BY) and a.id in incident_of]


def _representable(a: Alert, config: CorrelationConfig) -> None:
    """Refuse, before the engine sees it, an alert whose times plus the correlation windows
    cannot be datetimes (e.g. 9999-12-31 let through a wide TRIOPS_TIME_BOUND_YEARS): inside
    the engine it would poison its incident and every later alert of its service."""
    margin = 2 * (config.window + config.flap_window) + 86400.0
    for t in (to_epoch(a.starts_at), to_epoch(a.ends_at)):
        if t is not None:
            from_epoch(t - margin)
            from_epoch(t + margin)
