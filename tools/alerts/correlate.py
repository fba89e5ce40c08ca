"""The streaming correlation engine: alerts in, incidents out, deterministic.

Each alert is placed in amortised constant time: candidate incidents come from small
indexes (service and its graph neighbours, namespace/cluster, message template), each
capped to the few most recent incidents, never from a pass over history. A candidate is
scored by the strongest shared evidence; the best one above `min_score` within `window`
seconds of its last new alert takes the alert, else the alert opens an incident.

Concurrent faults stay apart: a shared cluster/namespace is no evidence for an alert that
names its service; an alert joins through the graph only when one fault explains both (its
service lies below an incident's root in cascade time, or just above it); a symptom below
several open roots goes to the best-timed one. Every placement records why (`Placement.why`).
A resolve older than the quiet period never joins. A cause alerting just after symptoms
that opened separate incidents merges them; `merge`/`split` are also there for a human,
and every merge or split is kept in `merges` with who decided (the store records them).

An incident resolves once every member alert resolved and `quiet` seconds passed with no
new activity. A fingerprint that re-fires `flap_threshold` times within `flap_window` is
flapping: it rejoins its incident and is never announced again. Any re-fire within
`flap_window` of its incident's resolution reopens that incident instead of opening one.
A re-fire is the same alert coming back, not new evidence: it keeps its incident open but
does not refresh the windows through which other alerts join (a flapping noise alert
would otherwise pull a new fault on a neighbour into its incident, leaving the fault's
cascade outside every propagation window).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple

from tools.alerts.models import SEVERITY_RANK, Alert, alert_id
from tools.alerts.templates import TemplateMiner
from tools.catalog import ServiceCatalog
from tools.timeutil import to_epoch


def _epoch(dt: datetime) -> float:
    """`to_epoch` without its UTC conversion for the aware datetimes alerts carry (the same
    instant, so the same float); the engine reads two per notification."""
    return dt.timestamp() if dt.tzinfo is not None else (to_epoch(dt) or 0.0)


PlacementKind = Literal["opened", "joined", "duplicate", "refired", "flapping", "resolved"]

# The per-service and per-group parts of an alert's features are pure caches: cleared when
# this large, so a long-lived correlator's memory does not grow with every namespace it saw.
_PART_CACHE_MAX = 4096


@dataclass(frozen=True)
class CorrelationConfig:
    window: float = 600.0  # an incident takes alerts of a service it has seen within this
    cascade_window: float = 240.0  # ... and of a neighbour / same namespace / template within this
    quiet: float = 300.0  # all resolved + this long quiet -> the incident resolves
    flap_window: float = 3600.0
    flap_threshold: int = 3  # fires of one fingerprint within flap_window
    min_score: float = 2.0
    w_same_service: float = 3.0
    w_dependency: float = 2.0  # the incident has a service this alert's service depends on
    w_dependent: float = 2.0  # ... a service that depends on it (a symptom may alert before its cause)
    w_dependency2: float = 1.0  # ... a dependency of a dependency
    w_second_hop: float = 0.5  # ... any other service two edges away (e.g. a shared dependency)
    unexplained_factor: float = 0.0  # graph evidence off the incident's root paths counts this much
    hop_delay: float | None = 240.0  # a cascade reaches a service h hops below a root within slack + h * this
    anchor_slack: float = 120.0
    upstream_lag: float | None = 120.0  # a service above the roots (a late-alerting cause) joins only this soon
    service_fresh: float | None = 300.0  # same-service evidence (a root service) counts fully this long after its first alert
    service_late_factor: float = 0.5  # ... and this much after
    symptom_fresh: float | None = 120.0  # ... a service below the incident's roots: a cascade's burst there is short
    symptom_late_factor: float = 0.0  # ... after it, a new alert there needs its cascade (anchor) to join
    w_anchor: float = 1.0  # extra evidence when the alert's service lies below a root in cascade time
    hop_typical: float | None = 120.0  # the anchor counts most when the delay is near h * this (best-fitting root)
    w_namespace: float = 0.0  # same cluster + namespace, the alert names its service: weak, never enough alone
    w_namespace_unowned: float = 1.0  # ... the alert names no service (only labels place it)
    sibling_lag: float | None = 60.0  # a service sharing a dependency with a root, alerting this soon after it,
    w_sibling: float = 1.0  # ... is perhaps a second symptom of a silent shared dependency (how 4): never enough alone
    merge_causes: bool = True  # a cause alerting late joins the incidents of the symptoms below it (a merge)
    w_template: float = 1.5  # same message template
    w_template_unowned: float = 2.5  # same template, the alert names no service
    index_width: int = 4  # recent incidents kept per index key
    group_labels: tuple[str, ...] = ("cluster", "namespace")


class Placement(NamedTuple):
    alert_id: str
    incident_id: str
    kind: PlacementKind
    why: tuple = ()  # the evidence that decided: ((kind, weight), ...), or for "opened" the best rejected fit


@dataclass(frozen=True)
class MergeRecord:
    """One incident absorbed into another: by the engine (a cause alerting late) or a human."""

    into: str
    merged: str
    at: float
    by: str  # "engine" or a user id
    reason: str


@dataclass(slots=True)
class _FpState:
    alert_id: str
    starts_at: float
    incident: str
    firing: bool
    fires: deque | tuple  # fire times within flap_window; a tuple (first fire) until it re-fires
    flapping: bool = False


@dataclass(slots=True, weakref_slot=True)  # slots: less memory per incident; summary.py keeps weak refs
class IncidentState:
    id: str
    opened_at: float
    last_alert_at: float
    last_event_at: float
    status: Literal["open", "resolved", "merged"] = "open"
    resolved_at: float | None = None
    alert_ids: list[str] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)  # alert id -> latest notification
    fingerprints: set[str] = field(default_factory=set)
    firing: set[str] = field(default_factory=set)
    services: dict[str, float] = field(default_factory=dict)  # service -> first alert time
    key_last: dict[tuple, float] = field(default_factory=dict)  # index key -> last new alert
    roots: set[str] = field(default_factory=set)  # affected services none of whose dependencies alert
    names: Counter = field(default_factory=Counter)
    severity: str = "info"
    first_alert_id: str = ""
    flapping: set[str] = field(default_factory=set)
    events: int = 0
    duplicates: int = 0
    close_due: float | None = None
    why: dict[str, tuple] = field(default_factory=dict)  # alert id -> why it was placed here
    merged_ids: list[str] = field(default_factory=list)  # incidents absorbed into this one
    merged_by: dict[str, tuple[str, str]] = field(default_factory=dict)  # absorbed id -> (who, why)
    merged_into: str | None = None  # set on the shell left behind by a merge
    split_from: str | None = None  # set on an incident a split made
    split_by: str | None = None
    split_reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class CorrelationEngine:
    def __init__(
        self,
        catalog: ServiceCatalog | None = None,
        config: CorrelationConfig | None = None,
        miner: TemplateMiner | None = None,
    ):
        self.config = config or CorrelationConfig()
        self.miner = miner or TemplateMiner()
        self.incidents: dict[str, IncidentState] = {}
        self.dirty: set[str] = set()
        self.clock = float("-inf")
        self._fp: dict[str, _FpState] = {}
        self._index: dict[tuple, list[str]] = {}
        self._due: list[tuple[float, str]] = []
        self._workloads: dict[str, str] = {}
        self._related: dict[str, tuple[tuple[str, float], ...]] = {}
        self._up: dict[str, frozenset[str]] = {}  # transitive dependencies of each service
        self._up_dist: dict[str, dict[str, int]] = {}  # ... and the fewest hops to each
        self._deps1: dict[str, frozenset[str]] = {}  # direct dependencies
        self._svc_queries: dict[str | None, tuple[tuple, tuple]] = {}  # service -> fact, queries
        self.stats: Counter[str] = Counter()
        self.aliases: dict[str, str] = {}  # merged incident id -> the incident that absorbed it
        self.merges: list[MergeRecord] = []  # every merge/split decision, newest last (callers persist it)
        self.kept_apart: set[frozenset[str]] = set()  # incidents a human split: the engine never re-merges them
        self._svc_seen: dict[str, deque[tuple[float, str]]] = {}  # service -> (first alert, incident), recent
        cfg = self.config
        self._max_horizon = max(cfg.window, cfg.cascade_window)
        # same-service evidence is never discounted before the shorter of the two freshness windows
        self._fresh_min = min((f for f in (cfg.service_fresh, cfg.symptom_fresh) if f is not None), default=float("inf"))
        self._grp_parts: dict[tuple, tuple[tuple, tuple]] = {}  # (unowned, group) -> fact, queries
        self._tpl_query = (cfg.w_template, cfg.cascade_window)
        self._tpl_query_unowned = (cfg.w_template_unowned, cfg.cascade_window)
        if catalog is not None:
            self._build_graph(catalog)

    # --- graph ----------------------------------------------------------------------------
    def _build_graph(self, catalog: ServiceCatalog) -> None:
        """Precompute, per service, the related services and the weight of each relation."""
        cfg = self.config
        deps = {s.name: set(s.depends_on) for s in catalog.services}
        users: dict[str, set[str]] = {name: set() for name in deps}
        for name, ds in deps.items():
            for d in ds:
                users.setdefault(d, set()).add(name)
        for name in deps:
            weights: dict[str, float] = {}

            def put(other: str, w: float, weights: dict[str, float] = weights, name: str = name) -> None:
                if other != name and w > weights.get(other, 0.0):
                    weights[other] = w

            for d in deps[name]:
                put(d, cfg.w_dependency)
                for d2 in deps.get(d, ()):
                    put(d2, cfg.w_dependency2)
                for sib in users.get(d, ()):
                    put(sib, cfg.w_second_hop)
            for u in users.get(name, ()):
                put(u, cfg.w_dependent)
                for u2 in users.get(u, ()):
                    put(u2, cfg.w_second_hop)
            self._related[name] = tuple(sorted(weights.items()))
        for name in deps:
            self._deps1[name] = frozenset(deps[name])
            self._up[name] = frozenset(catalog.upstream(name))
            dist: dict[str, int] = {}
            frontier, hops = list(deps[name]), 1
            while frontier:  # breadth first: the fewest hops to each transitive dependency
                nxt: list[str] = []
                for d in frontier:
                    if d not in dist:
                        dist[d] = hops
                        nxt.extend(deps.get(d, ()))
                frontier, hops = nxt, hops + 1
            self._up_dist[name] = dist

    # --- the stream -----------------------------------------------------------------------
    def process(self, alert: Alert) -> Placement:
        starts = _epoch(alert.starts_at)
        ends = alert.ends_at
        t = _epoch(ends) if ends is not None and alert.status == "resolved" else starts  # == alert.event_time
        if t > self.clock:
            self.clock = t
        if self._due and self._due[0][0] <= self.clock:
            self.advance(t)
        self.stats["events"] += 1
        key = f"{alert.source}\x00{alert.fingerprint}"
        st = self._fp.get(key)
        aid = alert_id(alert.source, alert.fingerprint, starts)  # == alert.id, its start read once
        if alert.status == "resolved":
            return self._resolve(alert, aid, key, st, t)
        if st is not None and st.firing:
            inc = self.incidents[st.incident]
            inc.duplicates += 1
            inc.events += 1
            self.dirty.add(inc.id)  # counts changed; the notifier skips posts that look the same
            inc.last_event_at = max(inc.last_event_at, t)
            self.stats["duplicates"] += 1
            if aid not in inc.alerts:  # a new startsAt while still firing: same alert, new occurrence
                self._add_member(inc, alert, aid, t)
            else:
                inc.alerts[aid] = alert
            return Placement(aid, inc.id, "duplicate")
        if st is not None:
            return self._refire(alert, aid, key, st, t)
        return self._place_new(alert, aid, key, t)

    def advance(self, now: float) -> list[str]:
        """Move the clock; resolve incidents whose quiet period has passed."""
        if now > self.clock:
            self.clock = now
        closed = []
        due = self._due
        while due and due[0][0] <= self.clock:
            when, iid = heapq.heappop(due)
            inc = self.incidents.get(iid)
            if inc is None or inc.close_due != when or inc.firing or not inc.is_open:
                continue
            inc.status = "resolved"
            inc.resolved_at = when
            inc.close_due = None
            self.dirty.add(iid)
            closed.append(iid)
        return closed

    def run(self, alerts: Iterable[Alert]) -> list[Placement]:
        """Offline: process alerts in event-time order (stable), then flush every quiet period."""
        ordered = sorted(alerts, key=lambda a: a.event_time)
        out = [self.process(a) for a in ordered]
        self.advance(float("inf"))
        return out

    # --- placement ------------------------------------------------------------------------
    def _place_new(self, alert: Alert, aid: str, key: str, t: float) -> Placement:
        cfg = self.config
        features = self._features(alert)
        svc = features[0]
        if alert.status == "resolved" and t < self.clock - cfg.quiet:
            # resolved before the quiet period: whatever it was, it is over; it neither joins
            # nor explains anything open now (a late or replayed resolve opens its own, closed)
            return self._open(alert, aid, key, t, features, (("stale_resolve", round(self.clock - t, 1)),))
        scores: dict[tuple[str, str], float] = {}
        how_of: dict[str, tuple[int, float]] = {}
        index_get = self._index.get
        incidents_get = self.incidents.get
        max_horizon = self._max_horizon
        w_sibling, w_anchor = cfg.w_sibling, cfg.w_anchor
        for k, weight, horizon in features[2]:
            ids = index_get(k)
            if not ids:
                continue
            stale = False
            is_svc = k[0] == "svc"
            for iid in ids:
                inc = incidents_get(iid)
                last = None if inc is None else inc.key_last.get(k)
                if last is None or t - last > max_horizon or inc.status != "open":  # type: ignore[union-attr]
                    stale = True
                    continue
                if t - last > horizon:
                    continue
                w = weight
                if is_svc:
                    how = how_of.get(iid)
                    if how is None:
                        how = how_of[iid] = self._explained(svc, inc, t)  # type: ignore[arg-type]
                    if k[1] != svc:
                        if not how[0]:
                            w *= cfg.unexplained_factor
                    elif svc is not None:
                        since = inc.services.get(svc)  # type: ignore[union-attr]
                        if since is None:  # a split took this service out of the incident
                            continue
                        if t - since > self._fresh_min:
                            root = svc in inc.roots  # type: ignore[union-attr]
                            fresh = cfg.service_fresh if root else cfg.symptom_fresh
                            if fresh is not None and t - since > fresh:
                                w *= cfg.service_late_factor if root else cfg.symptom_late_factor
                    h0 = how[0]
                    if h0 == 4 and w_sibling:
                        scores[(iid, "sibling")] = w_sibling
                    elif h0 == 2 and w_anchor:
                        scores[(iid, "anchor")] = w_anchor * (1.0 + 0.25 * how[1])
                if not w:
                    continue
                slot = (iid, k[0])  # evidence of one kind counts once (its strongest); kinds add up
                if w > scores.get(slot, 0.0):
                    scores[slot] = w
            if stale:  # drop incidents no alert can join any more: lists stay short
                self._prune_key(k, t, max_horizon)
        best: IncidentState | None = None
        best_score = 0.0
        if scores:
            totals: dict[str, float] = {}
            for (iid, _kind), w in scores.items():
                totals[iid] = totals.get(iid, 0.0) + w
            incidents = self.incidents
            for iid, score in totals.items():
                inc = incidents[iid]
                if score > best_score or (
                    best is not None and score == best_score and inc.last_alert_at > best.last_alert_at
                ):
                    best, best_score = inc, score
        if best is None or best_score < cfg.min_score:
            why: tuple = (("below_min_score", best.id, round(best_score, 2)),) if best is not None else ()
            placement = self._open(alert, aid, key, t, features, why)
            best = self.incidents[placement.incident_id]
        else:
            bid = best.id
            why = tuple([(kind, round(w, 2)) for (iid, kind), w in scores.items() if iid == bid])
            self._add_member(best, alert, aid, t, features)
            best.why[aid] = why
            self._fp[key] = _FpState(aid, t, best.id, True, (t,))
            self.stats["alerts"] += 1
            placement = Placement(aid, best.id, "joined", why)
        if cfg.merge_causes and svc is not None and svc in best.roots:
            for iid, how in how_of.items():
                if how[0] == 3 and iid != best.id:
                    other = self.incidents[iid]
                    if frozenset((best.id, iid)) in self.kept_apart:
                        continue  # a human said these are two faults
                    if other.is_open and all(svc in self._up.get(r, ()) for r in other.roots):
                        self.merge(best.id, iid, by="engine", at=t,
                                   reason=f"{svc} alerted within {cfg.upstream_lag:g} s of the symptoms below it")
        return placement

    def _open(self, alert: Alert, aid: str, key: str, t: float, features: tuple, why: tuple) -> Placement:
        inc = IncidentState(id="inc-" + aid[2:14], opened_at=t, last_alert_at=t, last_event_at=t, first_alert_id=aid)
        self.incidents[inc.id] = inc
        self.stats["incidents"] += 1
        self._add_member(inc, alert, aid, t, features)
        inc.why[aid] = why
        self._fp[key] = _FpState(aid, t, inc.id, True, (t,))
        self.stats["alerts"] += 1
        return Placement(aid, inc.id, "opened", why)

    def _refire(self, alert: Alert, aid: str, key: str, st: _FpState, t: float) -> Placement:
        cfg = self.config
        fires = st.fires
        if not isinstance(fires, deque):  # the first re-fire: start counting
            fires = st.fires = deque(fires)
        fires.append(t)
        while fires and t - fires[0] > cfg.flap_window:
            fires.popleft()
        if len(fires) >= cfg.flap_threshold:
            st.flapping = True
        inc = self.incidents.get(st.incident)
        # a re-fire within the flap window is the same problem coming back: reopen, don't page anew
        rejoin = inc is not None and (
            inc.is_open or (inc.resolved_at is not None and t - inc.resolved_at <= cfg.flap_window)
        )
        if not rejoin:
            st_fires = fires
            placement = self._place_new(alert, aid, key, t)
            new = self._fp[key]
            new.fires = st_fires
            return placement
        assert inc is not None
        if not inc.is_open:
            inc.status = "open"
            inc.resolved_at = None
            self.stats["reopened"] += 1
        st.firing = True
        st.alert_id = aid
        st.starts_at = t
        self._add_member(inc, alert, aid, t, new_alert=not st.flapping, new_evidence=False)
        if st.flapping:
            inc.flapping.add(alert.fingerprint)
            self.stats["flapping"] += 1
            return Placement(aid, inc.id, "flapping")
        self.stats["alerts"] += 1
        return Placement(aid, inc.id, "refired")

    def _resolve(self, alert: Alert, aid: str, key: str, st: _FpState | None, t: float) -> Placement:
        why: tuple = ()
        if st is None:  # resolved before we saw it fire: place it, then close it
            placement = self._place_new(alert, aid, key, t)
            st = self._fp[key]
            inc = self.incidents[placement.incident_id]
            why = placement.why
        else:
            inc = self.incidents[st.incident]
            if aid not in inc.alerts:
                inc.alert_ids.append(aid)
            inc.alerts[aid] = alert
            inc.events += 1
        st.firing = False
        inc.firing.discard(key)
        inc.last_event_at = max(inc.last_event_at, t)
        self.dirty.add(inc.id)
        self.stats["resolves"] += 1
        if not inc.firing and inc.is_open:
            inc.close_due = max(t, inc.last_alert_at) + self.config.quiet
            heapq.heappush(self._due, (inc.close_due, inc.id))
        return Placement(aid, inc.id, "resolved", why)

    def _add_member(
        self,
        inc: IncidentState,
        alert: Alert,
        aid: str,
        t: float,
        features: tuple | None = None,
        *,
        new_alert: bool = True,
        new_evidence: bool = True,
    ) -> None:
        if aid not in inc.alerts:
            inc.alert_ids.append(aid)
        inc.alerts[aid] = alert
        inc.fingerprints.add(alert.fingerprint)
        inc.firing.add(f"{alert.source}\x00{alert.fingerprint}")
        inc.events += 1
        inc.close_due = None
        if t > inc.last_event_at:
            inc.last_event_at = t
        if new_alert and t > inc.last_alert_at:
            inc.last_alert_at = t
        inc.names[alert.name] += 1
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK.get(inc.severity, 0):
            inc.severity = alert.severity
        svc, facts = (features if features is not None else self._features(alert))[:2]
        iid = inc.id
        if svc and svc not in inc.services:
            inc.services[svc] = t
            self._add_root(inc, svc)
            seen = self._svc_seen.get(svc)
            if seen is None:
                seen = self._svc_seen[svc] = deque(maxlen=32)
            seen.append((t, iid))

        self.dirty.add(iid)
        width = self.config.index_width
        index = self._index
        key_last = inc.key_last
        for k in facts:
            if new_alert and (new_evidence or k not in key_last):
                key_last[k] = t
            lst = index.get(k)
            if lst is None:
                index[k] = [iid]
                continue
            if lst and lst[-1] == iid:
                continue
            if iid in lst:
                lst.remove(iid)
            lst.append(iid)
            if len(lst) > width:
                del lst[0]

    def _prune_key(self, k: tuple, t: float, horizon: float) -> None:
        keep = []
        for iid in self._index[k]:
            inc = self.incidents.get(iid)
            last = None if inc is None else inc.key_last.get(k)
            # a resolved incident may still reopen on a re-fire, but that path goes by fingerprint
            if inc is not None and last is not None and t - last <= horizon and inc.status == "open":
                keep.append(iid)
        if keep:
            self._index[k] = keep
        else:
            del self._index[k]

    def _explained(self, svc: str | None, inc: IncidentState, t: float) -> tuple[int, float]:
        """Could one fault explain both? Only if the alert's service lies on a dependency
        path through one of the incident's roots (its most upstream affected services), and,
        when propagation delays are set, only if the timing fits: a cascade needs time per hop
        to reach a dependent but not forever, and a cause alerting after its symptoms does so
        soon after them, else it is a new fault upstream.

        (how, fit). how 0: no; 1: yes (it is a root, or a cause above one with no timing);
        2: yes, as a cascade below a root (the anchor, which `w_anchor` rewards, the more
        the closer its delay is to `hop_typical` a hop: the best-fitting root wins);
        3: yes, as a cause alerting just after the symptoms below it (may merge them);
        4: perhaps, as a sibling of a root alerting at once: both depend on a service that
        does not alert (a silent shared cause); only when no root relates to it otherwise,
        so the answer never depends on the order a set yields its roots."""
        if svc is None:
            return 1, 0.0
        cfg = self.config
        dist = self._up_dist.get(svc, {})
        best, fit = 0, 0.0
        sibling = False
        for r in inc.roots:  # a set: take the best fit, so iteration order never matters
            h = dist.get(r)
            if h is not None:  # svc depends on root r, h hops down
                dt = t - inc.services[r]
                if cfg.hop_delay is None or dt <= cfg.anchor_slack + h * cfg.hop_delay:
                    f = 1.0
                    if cfg.hop_typical:
                        f = 1.0 / (1.0 + abs(dt - h * cfg.hop_typical) / (h * cfg.hop_typical))
                    if best != 2 or f > fit:
                        best, fit = 2, f
            elif best == 2:
                continue
            elif r == svc:
                best = max(best, 1)
            elif svc in self._up.get(r, ()):  # svc lies above the root: would become the new root
                if cfg.upstream_lag is None:
                    best = max(best, 1)
                elif t - inc.services[r] <= cfg.upstream_lag:
                    best = 3
            elif (not sibling and cfg.sibling_lag is not None and t - inc.services[r] <= cfg.sibling_lag
                  and self._deps1.get(svc, frozenset()) & self._deps1.get(r, frozenset())):
                sibling = True
        if best == 0 and sibling:  # only when no root relates to it otherwise, whatever the set's order
            best = 4
        return best, fit

    def _add_root(self, inc: IncidentState, svc: str) -> None:
        up = self._up.get(svc, frozenset())
        if any(r in up for r in inc.roots):
            return  # something it depends on already alerts: not a root
        inc.roots = {r for r in inc.roots if svc not in self._up.get(r, ())}
        inc.roots.add(svc)

    def service_of(self, alert: Alert) -> str | None:
        """The alert's service, else the one learned for its pod's workload (pod name minus
        the ReplicaSet hash and pod suffix) from earlier alerts that named both, else the
        catalog service the workload is named after."""
        pod = alert.labels.get("pod")
        workload = pod.rsplit("-", 2)[0] if pod and pod.count("-") >= 2 else None
        if alert.service:
            if workload and workload not in self._workloads:
                self._workloads[workload] = alert.service
            return alert.service
        if not workload:
            return None
        found = self._workloads.get(workload)
        if found is None and workload in self._up:  # the workload is named like a catalog service
            found = workload
        return found

    def _features(self, alert: Alert) -> tuple[str | None, tuple[tuple, ...], tuple[tuple[tuple, float, float], ...]]:
        """(service, facts this alert adds to its incident, queries: key, weight, horizon).
        The service's and the group's parts are built once each and joined."""
        svc = self.service_of(alert) or None
        group = tuple(map(alert.labels.get, self.config.group_labels))
        tpl = ("tpl", self.miner.add(alert.message))
        sf, sq = self._svc_part(svc)
        gp = self._grp_parts.get((svc is None, group))
        if gp is None:
            if len(self._grp_parts) >= _PART_CACHE_MAX:  # short-lived namespaces (PR previews) come and go
                self._grp_parts.clear()
            gp = self._grp_parts[(svc is None, group)] = self._grp_part(svc is None, group)
        tq = self._tpl_query_unowned if svc is None else self._tpl_query
        return svc, sf + gp[0] + (tpl,), sq + gp[1] + ((tpl, *tq),)

    def _svc_part(self, svc: str | None) -> tuple[tuple, tuple]:
        """A service's fact, and its queries (itself and every related service)."""
        hit = self._svc_queries.get(svc)
        if hit is None:
            cfg = self.config
            if svc is None:
                hit = ((), ())
            else:
                queries = ((("svc", svc), cfg.w_same_service, cfg.window),
                           *((("svc", n), w, cfg.cascade_window) for n, w in self._related.get(svc, ())))
                hit = ((("svc", svc),), queries)
            if len(self._svc_queries) >= _PART_CACHE_MAX:  # services named only by alert labels
                self._svc_queries.clear()
            self._svc_queries[svc] = hit
        return hit

    def _grp_part(self, unowned: bool, group: tuple) -> tuple[tuple, tuple]:
        """The cluster/namespace fact, and its query when it counts (only for an unowned alert by default)."""
        if not group[-1]:
            return (), ()
        cfg = self.config
        fact = ("grp", *group)
        w_grp = cfg.w_namespace_unowned if unowned else cfg.w_namespace
        if not w_grp:
            return (fact,), ()
        return (fact,), ((fact, w_grp, cfg.cascade_window),)

    # --- merge and split ------------------------------------------------------------------
    def resolve_id(self, incident_id: str) -> str:
        """The incident an id now lives in (a merged id points at the one that absorbed it)."""
        seen = 0
        while incident_id in self.aliases and seen < 64:
            incident_id, seen = self.aliases[incident_id], seen + 1
        return incident_id

    def merge(self, into: str, other: str, *, by: str, at: float | None = None, reason: str = "") -> MergeRecord:
        """Move every alert of `other` into `into`; `other` stays as a shell that names `into`
        (status "merged"), so both ids resolve. `by`: "engine" or the human who decided."""
        into, other = self.resolve_id(into), self.resolve_id(other)
        if into == other:
            raise ValueError(f"{into} and {other} are the same incident")
        dst, src = self.incidents.get(into), self.incidents.get(other)
        if dst is None or src is None:
            raise KeyError(f"unknown incident: {into if dst is None else other}")
        when = self.clock if at is None else at
        events = dst.events
        for aid in src.alert_ids:
            self._move(src, dst, src.alerts[aid], aid)
        for fp in src.flapping:
            dst.flapping.add(fp)
        dst.events = events + src.events
        dst.duplicates += src.duplicates
        if SEVERITY_RANK.get(src.severity, 0) > SEVERITY_RANK.get(dst.severity, 0):
            dst.severity = src.severity
        if src.opened_at < dst.opened_at:
            dst.opened_at, dst.first_alert_id = src.opened_at, src.first_alert_id
        dst.last_alert_at = max(dst.last_alert_at, src.last_alert_at)
        dst.last_event_at = max(dst.last_event_at, src.last_event_at)
        for k, v in src.key_last.items():
            dst.key_last[k] = max(v, dst.key_last.get(k, v))
            lst = self._index.get(k)
            if lst is not None and other in lst:
                lst.remove(other)
                if into not in lst:
                    lst.append(into)
        dst.merged_ids.append(other)
        dst.merged_by[other] = (by, reason or "merged")
        self.kept_apart.discard(frozenset((into, other)))  # a human merging them again overrides their split
        if dst.status != "open" and (dst.firing or src.is_open):
            dst.status, dst.resolved_at = "open", None
        self._reschedule(dst)
        src.status, src.resolved_at, src.close_due = "merged", when, None
        src.alert_ids, src.alerts, src.firing, src.services, src.roots = [], {}, set(), {}, set()
        src.merged_into = into
        self.aliases[other] = into
        rec = MergeRecord(into=into, merged=other, at=when, by=by, reason=reason or "merged")
        self.merges.append(rec)
        self.stats["merges"] += 1
        self.dirty.update((into, other))
        return rec

    def split(self, incident_id: str, alert_ids: Iterable[str], *, by: str, at: float | None = None,
              reason: str = "") -> MergeRecord:
        """Move `alert_ids` (members of the incident) into a new incident; returns the record
        (`into` is the new incident). Both keep their alerts' history; neither may end empty."""
        iid = self.resolve_id(incident_id)
        src = self.incidents.get(iid)
        if src is None:
            raise KeyError(f"unknown incident: {incident_id}")
        moving = [a for a in dict.fromkeys(alert_ids)]
        unknown = [a for a in moving if a not in src.alerts]
        if unknown:
            raise ValueError(f"not alerts of {iid}: {', '.join(unknown[:5])}")
        if not moving or len(moving) == len(src.alert_ids):
            raise ValueError("a split needs some, but not all, of the incident's alerts")
        when = self.clock if at is None else at
        first = min(moving, key=lambda a: (src.alerts[a].event_time, a))
        t0 = src.alerts[first].event_time
        dst = IncidentState(id="inc-" + first[2:14], opened_at=t0, last_alert_at=t0, last_event_at=t0,
                            first_alert_id=first)
        if dst.id in self.incidents:
            dst.id = f"{dst.id}-s{self.stats['splits'] + 1}"
        dst.split_from, dst.split_by, dst.split_reason = iid, by, reason or "split"
        self.incidents[dst.id] = dst
        for aid in sorted(moving, key=lambda a: (src.alerts[a].event_time, a)):
            self._move(src, dst, src.alerts[aid], aid)
            del src.alerts[aid]
        self._rebuild(src)
        for inc in (src, dst):
            self._reschedule(inc)
        rec = MergeRecord(into=dst.id, merged=iid, at=when, by=by, reason=reason or "split")
        self.merges.append(rec)
        if by != "engine":
            self.kept_apart.add(frozenset((iid, dst.id)))
        self.stats["splits"] += 1
        self.stats["incidents"] += 1
        self.dirty.update((iid, dst.id))
        return rec

    def _move(self, src: IncidentState, dst: IncidentState, a: Alert, aid: str) -> None:
        key = f"{a.source}\x00{a.fingerprint}"
        firing = key in src.firing and a.status == "firing"
        t = a.event_time if a.status == "firing" else (to_epoch(a.starts_at) or a.event_time)
        self._add_member(dst, a, aid, t)
        if aid in src.why:
            dst.why[aid] = src.why[aid]
        if not firing:
            dst.firing.discard(key)
        if a.fingerprint in src.flapping:
            dst.flapping.add(a.fingerprint)
        st = self._fp.get(key)
        if st is not None and st.incident == src.id:
            st.incident = dst.id

    def _rebuild(self, inc: IncidentState) -> None:
        """Recompute what a split took away: services, roots, firing, first alert, severity."""
        remaining = [a for a in inc.alert_ids if a in inc.alerts]
        moved = set(inc.alert_ids) - set(remaining)
        inc.alert_ids = remaining
        inc.services, inc.roots, inc.names, inc.severity = {}, set(), Counter(), "info"
        firing = set()
        for aid in remaining:
            a = inc.alerts[aid]
            svc = self.service_of(a)
            t = to_epoch(a.starts_at) or a.event_time
            if svc and (svc not in inc.services or t < inc.services[svc]):
                inc.services[svc] = t
            inc.names[a.name] += 1
            if SEVERITY_RANK[a.severity] > SEVERITY_RANK.get(inc.severity, 0):
                inc.severity = a.severity
            key = f"{a.source}\x00{a.fingerprint}"
            if a.status == "firing" and self._fp.get(key) is not None and self._fp[key].incident == inc.id:
                firing.add(key)
        inc.firing = firing
        # a service split out entirely no longer leads its new alerts here (nor to a KeyError)
        inc.key_last = {k: v for k, v in inc.key_last.items() if k[0] != "svc" or k[1] in inc.services}
        for svc in sorted(inc.services, key=lambda s: inc.services[s]):
            self._add_root(inc, svc)
        if inc.first_alert_id in moved or inc.first_alert_id not in inc.alerts:
            inc.first_alert_id = min(remaining, key=lambda a: (inc.alerts[a].event_time, a))
            inc.opened_at = inc.alerts[inc.first_alert_id].event_time
        for aid in moved:
            inc.why.pop(aid, None)

    def _reschedule(self, inc: IncidentState) -> None:
        if inc.firing or inc.status == "merged":
            inc.close_due = None
            return
        if inc.is_open:
            inc.close_due = max(self.clock, inc.last_alert_at) + self.config.quiet
            heapq.heappush(self._due, (inc.close_due, inc.id))

    # --- restore and read-out -------------------------------------------------------------
    def restore(self, incident_id: str, opened_at: float, members: list[Alert]) -> None:
        """Rebuild one open incident from the store (on restart) so new alerts can join it."""
        members = sorted(members, key=lambda a: a.event_time)
        if not members:
            return
        first = members[0]
        inc = IncidentState(
            id=incident_id, opened_at=opened_at, last_alert_at=opened_at, last_event_at=opened_at,
            first_alert_id=first.id,
        )
        self.incidents[incident_id] = inc
        for a in members:
            t = a.event_time
            key = f"{a.source}\x00{a.fingerprint}"
            self._add_member(inc, a, a.id, t)
            st = self._fp.get(key)
            if st is None:
                self._fp[key] = st = _FpState(a.id, t, incident_id, True, deque([t]))
            if a.status == "resolved":
                st.firing = False
                inc.firing.discard(key)
        self.advance(inc.last_event_at)
        if not inc.firing:
            inc.close_due = inc.last_event_at + self.config.quiet
            heapq.heappush(self._due, (inc.close_due, inc.id))
        self.dirty.discard(incident_id)

    def restore_decision(self, action: str, incident_id: str, target: str, *, by: str, at: float,
                         reason: str = "") -> None:
        """Replay one recorded merge or split onto restored incidents (after a restart; the
        store already moved the alerts): the absorbed id resolves again, the incident keeps
        the history its card shows, and a human split stays apart. `action` "merge":
        `incident_id` absorbed `target`; "split": `incident_id` was split out of `target`."""
        inc = self.incidents.get(incident_id)
        if action == "merge":
            self.aliases[target] = incident_id
            if inc is not None and target not in inc.merged_ids:
                inc.merged_ids.append(target)
                inc.merged_by[target] = (by, reason or "merged")
            self.merges.append(MergeRecord(into=incident_id, merged=target, at=at, by=by, reason=reason or "merged"))
        elif action == "split":
            if inc is not None:
                inc.split_from, inc.split_by, inc.split_reason = target, by, reason or "split"
            if by != "engine":
                self.kept_apart.add(frozenset((incident_id, target)))
            self.merges.append(MergeRecord(into=incident_id, merged=target, at=at, by=by, reason=reason or "split"))
        else:
            raise ValueError(f"not a merge or split: {action!r}")
        self.dirty.discard(incident_id)

    def alerting_near(self, svc: str, t: float, window: float, exclude: str) -> float | None:
        """When `svc` first alerted in another incident than `exclude`, if within `window`
        seconds of `t` (the closest such time): what a cause ranking needs to see a
        sibling's symptoms that correlation kept apart."""
        best: float | None = None
        home = self.resolve_id(exclude)
        for at, iid in self._svc_seen.get(svc, ()):
            if abs(at - t) <= window and self.resolve_id(iid) != home and (best is None or abs(at - t) < abs(best - t)):
                best = at
        return best

    def take_dirty(self) -> set[str]:
        out, self.dirty = self.dirty, set()
        return out

    def prune(self, horizon: float) -> int:
        """Forget resolved incidents (and their fingerprints) resolved before `horizon`."""
        gone = [i for i, inc in self.incidents.items() if inc.resolved_at is not None and inc.resolved_at < horizon]
        for iid in gone:
            del self.incidents[iid]
        gone_set = set(gone)
        for k in [k for k, st in self._fp.items() if st.incident in gone_set]:
            del self._fp[k]
        for k in [k for k, v in self.aliases.items() if k in gone_set or v in gone_set]:
            del self.aliases[k]  # the store keeps resolving them (alert_store.resolve_incident_id)
        return len(gone)
