"""Metric evidence for cause ranking: which service's golden signals broke first, around
an incident's first alert (read from Prometheus when TRIOPS_PROMETHEUS_URL is set).

A provider is `(services, first_alert_epoch) -> MetricEvidence`, like the change providers
(tools/alerts/changes.py): the engine never queries on its own. It reads each service's
golden signals (tools.metrics.signals templates, or the catalog's `promql:` overrides)
from `first - HISTORY_S` to `first + AFTER_S`, runs the streaming detector over each
(tools.metrics.signals.find_changes), and keeps per service the first break near the
first alert.

Bounded: at most `max_services` services (the pipeline asks for the earliest alerting ones
and the dependencies they call that do not alert: the cause is among them), every query under the client's timeout, and the whole read under `budget_s`
(what is left unread is said). When Prometheus is unreachable the evidence says so and
the ranking proceeds without it; a signal with no series is no evidence (not an error);
a query Prometheus refuses (a bad `promql:` override) is named in the evidence. Anything
else is a bug and propagates.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tools.catalog import ServiceCatalog
from tools.errors import BackendUnreachable, NoDataError, ToolError
from tools.settings import Settings
from tools.timeutil import from_epoch

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger("triops.alerts")

HISTORY_S = 6 * 3600.0  # baseline the detector learns from (a short one lets a warm-up blip hide a break)
AFTER_S = 15 * 60.0  # ... and how far past the first alert a break is still read
BEFORE_S = 45 * 60.0  # a break this long before the first alert may still be where it started
STEP_S = 60.0


class MetricBreak(BaseModel):
    """The first anomalous change of one golden signal of one service near the incident."""

    service: str
    signal: str  # latency | traffic | errors | saturation | an override's name
    at: datetime
    value: float
    baseline: float
    ratio: float | None = None
    score: float
    query: str


class MetricEvidence(BaseModel):
    breaks: list[MetricBreak] = Field(default_factory=list)  # the first break per service, earliest first
    checked: list[str] = Field(default_factory=list)  # services whose signals were read
    note: str = ""  # what went wrong or was left out (Prometheus down, budget spent, bad query)
    available: bool = True  # False: no metric evidence could be read at all


MetricProvider = Callable[[Sequence[str], float], MetricEvidence]


def first_breaks(
    read: Callable[[str, float, float], tuple[list[float], list[float]] | None],
    queries: dict[str, dict[str, str]],
    first_alert: float,
    *,
    now: float | None = None,
    budget_s: float = 8.0,
) -> MetricEvidence:
    """`queries`: service -> signal -> PromQL, in the order to read them; `read(q, start,
    end)` returns (timestamps, values), or None when the signal has no series. Pure apart
    from `read`, which may raise BackendUnreachable (stop reading) or ToolError (this query refused)."""
    from tools.metrics.signals import find_changes

    start, end = first_alert - HISTORY_S, first_alert + AFTER_S
    if now is not None:
        end = min(end, now)
    deadline = time.monotonic() + budget_s
    out = MetricEvidence()
    notes: list[str] = []
    for svc, signals in queries.items():
        if time.monotonic() > deadline:
            notes.append(f"time budget of {budget_s:g} s spent before reading {', '.join(list(queries)[len(out.checked):])}")
            break
        best: MetricBreak | None = None
        for name, q in signals.items():
            try:
                got = read(q, start, end)
            except BackendUnreachable as exc:  # the rest would wait the same way: stop here
                out.note = "; ".join([*notes, f"{exc}: cause ranked without metric evidence"])
                out.available = bool(out.checked)
                out.breaks.sort(key=lambda b: b.at)
                return out
            except ToolError as exc:  # this query was refused: say which, read the others
                notes.append(f"{svc} {name}: {exc}")
                continue
            if got is None:
                continue
            ts, vs = got
            for m in find_changes(ts, vs):
                t = m.at.timestamp()
                if first_alert - BEFORE_S <= t <= first_alert + AFTER_S and (best is None or m.at < best.at):
                    best = MetricBreak(service=svc, signal=name, at=m.at, value=m.value, baseline=m.baseline,
                                       ratio=m.ratio, score=m.score, query=q)
                    break  # marks come in time order: the first in range is this signal's first
        out.checked.append(svc)
        if best is not None:
            out.breaks.append(best)
    out.breaks.sort(key=lambda b: b.at)
    out.note = "; ".join(notes)
    return out


def prometheus_provider(settings: Settings, catalog: ServiceCatalog, *, max_services: int = 8,
                        budget_s: float = 8.0) -> MetricProvider | None:
    """The provider for TRIOPS_PROMETHEUS_URL, or None when none is configured."""
    if not settings.prometheus_url:
        return None

    def provide(services: Sequence[str], first_alert: float) -> MetricEvidence:
        from tools.metrics.prometheus import PrometheusClient
        from tools.metrics.signals import signal_queries

        queries: dict[str, dict[str, str]] = {}
        skipped: list[str] = []
        for s in services:
            if len(queries) >= max_services:
                skipped.append(s)
                continue
            svc = catalog.service(s)
            try:
                queries[s] = signal_queries(s, svc.promql if svc else None)
            except ToolError:  # a name that cannot go into PromQL safely: not read
                skipped.append(s)
        with PrometheusClient.from_settings(settings) as prom:
            def read(q: str, start: float, end: float) -> tuple[list[float], list[float]] | None:
                try:
                    res = prom.query_range(q, start, end, step=STEP_S)
                except NoDataError:
                    return None
                s0 = res.series[0]
                return s0.timestamps, s0.values

            ev = first_breaks(read, queries, first_alert, now=time.time(), budget_s=budget_s)
        if skipped:
            ev.note = "; ".join(x for x in (ev.note, f"not read: {', '.join(skipped[:5])}") if x)
        return ev

    return provide


PENDING_NOTE = "metric evidence pending: read in the background, the card updates when it arrives"
DOWN_NOTE = "Prometheus was unreachable moments ago: cause ranked without metric evidence"


class IncidentMetrics:
    """The pipeline's per-incident metric evidence, never waited for: the pipeline asks under
    its lock, so a slow Prometheus (a timeout per query, `budget_s` per read) must not stall
    the correlation of every other alert. `get` answers from the cache at once; evidence it
    does not have yet is queued and read in the background (by at most `workers` threads,
    one read per incident at a time), and `on_ready(incident_id)` is called when it arrives,
    so the pipeline saves the incident again and its card is updated. Read again only when
    an incident's services change; after Prometheus failed to answer, not asked for `retry_s` (the evidence says
    why), so a down Prometheus costs one timeout, not one per batch. Evidence that could not
    be read is kept only `retry_s`: the incident's next save after that asks again."""

    def __init__(self, provider: MetricProvider, catalog: ServiceCatalog, retry_s: float = 60.0, *,
                 on_ready: Callable[[str], None] | None = None, workers: int = 2):
        self.provider, self.catalog, self.retry_s = provider, catalog, retry_s
        self.on_ready = on_ready
        # incident -> (its services, their evidence, when it expires: None for evidence read)
        self._cache: dict[str, tuple[tuple[str, ...], MetricEvidence, float | None]] = {}
        self._down_until = 0.0
        self._reading: set[str] = set()  # incidents with a read queued or in flight
        self._queue: deque[tuple[str, tuple[str, ...], dict[str, float]]] = deque()
        self._busy = 0  # reads queued and not yet reported through on_ready
        self._workers, self._max_workers = 0, workers
        self._cond = threading.Condition()

    def get(self, incident_id: str, first_seen: Mapping[str, float]) -> MetricEvidence | None:
        """`first_seen`: the incident's services -> their first alert (epoch). The evidence for
        these services if read; else (a read started, or already under way) the evidence for
        its earlier services, or a 'pending' one."""
        services = tuple(sorted(first_seen, key=lambda s: (first_seen[s], s)))
        with self._cond:
            now = time.monotonic()
            cached = self._cache.get(incident_id)
            if cached is not None and cached[0] == services and (cached[2] is None or now < cached[2]):
                return cached[1]
            if not services:
                return None
            if now < self._down_until:
                if cached is not None:
                    return cached[1]
                ev = MetricEvidence(available=False, note=DOWN_NOTE)
                self._cache[incident_id] = (services, ev, self._down_until)
                return ev
            if incident_id not in self._reading:
                self._reading.add(incident_id)
                self._busy += 1
                self._queue.append((incident_id, services, dict(first_seen)))
                if self._workers < self._max_workers:
                    self._workers += 1
                    threading.Thread(target=self._work, name="triops-metric-evidence", daemon=True).start()
        return cached[1] if cached is not None else MetricEvidence(available=False, note=PENDING_NOTE)

    def _work(self) -> None:
        """A reader thread: reads queued incidents until none is left, then ends."""
        while True:
            with self._cond:
                if not self._queue:
                    self._workers -= 1
                    return
                incident_id, services, first_seen = self._queue.popleft()
                down = time.monotonic() < self._down_until  # failed while this one waited: do not ask
            self._read(incident_id, services, first_seen, down)

    def _read(self, incident_id: str, services: tuple[str, ...], first_seen: dict[str, float], down: bool) -> None:
        try:
            silent = [d for s in services[:3] for d in self.catalog.dependencies(s) if d not in first_seen]
            wanted = [*services[:5], *dict.fromkeys(silent)][:8]  # the first alerting, then what they call
            if down:
                ev = MetricEvidence(available=False, note=DOWN_NOTE)
            else:
                try:
                    ev = self.provider(wanted, min(first_seen.values()))
                except Exception as exc:  # a bug: nobody waits on this thread, so the card says it
                    ref = uuid.uuid4().hex[:8]
                    log.exception("metric evidence for incident %s failed [ref %s]", incident_id, ref)
                    ev = MetricEvidence(available=False,
                                        note=f"reading metric evidence failed [ref {ref}]: {type(exc).__name__}")
            with self._cond:
                if not ev.available and not down:
                    self._down_until = time.monotonic() + self.retry_s
                # what could not be read is asked again once Prometheus may answer
                self._cache[incident_id] = (services, ev, None if ev.available else time.monotonic() + self.retry_s)
                self._reading.discard(incident_id)
            if self.on_ready is not None:
                try:
                    self.on_ready(incident_id)
                except Exception:  # the next save of the incident carries the evidence anyway
                    log.exception("saving the metric evidence of incident %s failed", incident_id)
        finally:
            with self._cond:
                self._reading.discard(incident_id)
                self._busy -= 1
                self._cond.notify_all()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until no read is in flight and every result was handed to `on_ready` (a
        short-lived pipeline before it exits, a test). False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._busy == 0, timeout)

    def forget(self, live: Container[str]) -> None:
        """Drop the evidence of incidents no longer in `live`."""
        with self._cond:
            for iid in [i for i in self._cache if i not in live]:
                del self._cache[iid]


def awaiting(conn: Connection) -> list[str]:
    """Open incidents whose saved card still says their evidence is pending: its reader (a
    replica that stopped or lost the lease) never saved it, so the next correlator reads it."""
    from sqlalchemy import Text, cast, select

    from tools.store.alerts import alert_incidents

    c = alert_incidents.c
    rows = conn.execute(select(c.id, c.summary).where(c.status == "open",
                                                      cast(c.summary, Text).like("%metric evidence pending%")))
    return [iid for iid, summary in rows if (summary or {}).get("metric_note") == PENDING_NOTE]


def describe(b: MetricBreak, first_alert: float) -> str:
    """One line: what broke, when, against the first alert."""
    lead = first_alert - b.at.timestamp()
    when = f"{_ago(lead)} before the first alert" if lead >= 0 else f"{_ago(lead)} after the first alert"
    size = f", {b.ratio:.1f}× its baseline" if b.ratio is not None and b.ratio > 0 else ""
    return f"{b.service} {b.signal} broke at {from_epoch(b.at.timestamp()):%H:%M} UTC{size}, {when}"


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
