"""The streaming correlation engine: alerts in, incidents out, deterministic.

Each alert is placed in amortised constant time: candidate incidents come from small
indexes (service and its graph neighbours, namespace/cluster, message template), each
capped to the few most recent incidents, never from a pass over history. A candidate is
scored by the strongest shared evidence; the best one above `min_score` within `window`
seconds of its last new alert takes the alert, else the alert opens an incident.

An incident resolves once every member alert resolved and `quiet` seconds passed with no
new activity. A fingerprint that re-fires `flap_threshold` times within `flap_window` is
flapping: it rejoins its incident and is never announced again. Any re-fire within
`flap_window` of its incident's resolution reopens that incident instead of opening one.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from tools.alerts.models import SEVERITY_RANK, Alert
from tools.alerts.templates import TemplateMiner
from tools.catalog import ServiceCatalog

PlacementKind = Literal["opened", "joined", "duplicate", "refired", "flapping", "resolved"]


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
    service_fresh: float | None = 300.0  # same-service evidence counts fully this long after the service's first alert
    service_late_factor: float = 0.5  # ... and this much after
    w_anchor: float = 1.0  # extra evidence when the alert's service lies below a root in cascade time
    w_namespace: float = 1.0  # same cluster + namespace
    w_template: float = 1.5  # same message template
    w_template_unowned: float = 2.5  # same template, the alert names no service
    index_width: int = 4  # recent incidents kept per index key
    group_labels: tuple[str, ...] = ("cluster", "namespace")


class Placement(NamedTuple):
    alert_id: str
    incident_id: str
    kind: PlacementKind


@dataclass(slots=True)
class _FpState:
    alert_id: str
    starts_at: float
    incident: str
    firing: bool
    fires: deque
    flapping: bool = False


@dataclass
class IncidentState:
    id: str
    opened_at: float
    last_alert_at: float
    last_event_at: float
    status: Literal["open", "resolved"] = "open"
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
        self._svc_queries: dict[str, list[tuple[tuple, float, float]]] = {}
        self.stats: Counter[str] = Counter()
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
        t = alert.event_time
        self.advance(t)
        self.stats["events"] += 1
        key = f"{alert.source}\x00{alert.fingerprint}"
        st = self._fp.get(key)
        aid = alert.id
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
        scores: dict[tuple[str, str], float] = {}
        svc = features[0]
        index_get = self._index.get
        incidents = self.incidents
        max_horizon = max(cfg.window, cfg.cascade_window)
        for k, weight, horizon in features[2]:
            ids = index_get(k)
            if not ids:
                continue
            stale = False
            for iid in ids:
                inc = incidents.get(iid)
                last = None if inc is None else inc.key_last.get(k)
                if inc is None or last is None or t - last > max_horizon or inc.status != "open":
                    stale = True
                    continue
                if t - last > horizon:
                    continue
                w = weight
                if k[0] == "svc":
                    if k[1] != svc:
                        how = self._explained(svc, inc, t)
                        if not how:
                            w *= cfg.unexplained_factor
                        elif how == 2 and cfg.w_anchor:
                            scores[(iid, "anchor")] = cfg.w_anchor
                    elif (svc is not None and cfg.service_fresh is not None
                          and t - inc.services[svc] > cfg.service_fresh):
                        w *= cfg.service_late_factor
                slot = (iid, k[0])  # evidence of one kind counts once (its strongest); kinds add up
                if w > scores.get(slot, 0.0):
                    scores[slot] = w
            if stale:  # drop incidents no alert can join any more: lists stay short
                self._prune_key(k, t, max_horizon)
        totals: dict[str, float] = {}
        for (iid, _kind), w in scores.items():
            totals[iid] = totals.get(iid, 0.0) + w
        best: IncidentState | None = None
        best_score = 0.0
        for iid, score in totals.items():
            inc = self.incidents[iid]
            if score > best_score or (
                best is not None and score == best_score and inc.last_alert_at > best.last_alert_at
            ):
                best, best_score = inc, score
        kind: PlacementKind = "joined"
        if best is None or best_score < cfg.min_score:
            best = IncidentState(
                id="inc-" + aid[2:14], opened_at=t, last_alert_at=t, last_event_at=t, first_alert_id=aid
            )
            self.incidents[best.id] = best
            self.stats["incidents"] += 1
            kind = "opened"
        self._add_member(best, alert, aid, t, features)
        self._fp[key] = _FpState(aid, t, best.id, True, deque([t]))
        self.stats["alerts"] += 1
        return Placement(aid, best.id, kind)

    def _refire(self, alert: Alert, aid: str, key: str, st: _FpState, t: float) -> Placement:
        cfg = self.config
        fires = st.fires
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
        self._add_member(inc, alert, aid, t, new_alert=not st.flapping)
        if st.flapping:
            inc.flapping.add(alert.fingerprint)
            self.stats["flapping"] += 1
            return Placement(aid, inc.id, "flapping")
        self.stats["alerts"] += 1
        return Placement(aid, inc.id, "refired")

    def _resolve(self, alert: Alert, aid: str, key: str, st: _FpState | None, t: float) -> Placement:
        if st is None:  # resolved before we saw it fire: place it, then close it
            placement = self._place_new(alert, aid, key, t)
            st = self._fp[key]
            inc = self.incidents[placement.incident_id]
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
        return Placement(aid, inc.id, "resolved")

    def _add_member(
        self,
        inc: IncidentState,
        alert: Alert,
        aid: str,
        t: float,
        features: tuple[str | None, list[tuple], list] | None = None,
        *,
        new_alert: bool = True,
    ) -> None:
        if aid not in inc.alerts:
            inc.alert_ids.append(aid)
        inc.alerts[aid] = alert
        inc.fingerprints.add(alert.fingerprint)
        inc.firing.add(f"{alert.source}\x00{alert.fingerprint}")
        inc.events += 1
        inc.close_due = None
        inc.last_event_at = max(inc.last_event_at, t)
        if new_alert:
            inc.last_alert_at = max(inc.last_alert_at, t)
        inc.names[alert.name] += 1
        if SEVERITY_RANK[alert.severity] > SEVERITY_RANK.get(inc.severity, 0):
            inc.severity = alert.severity
        svc, facts, _ = features if features is not None else self._features(alert)
        if svc and svc not in inc.services:
            inc.services[svc] = t
            self._add_root(inc, svc)
        self.dirty.add(inc.id)
        width = self.config.index_width
        for k in facts:
            if new_alert:
                inc.key_last[k] = t
            lst = self._index.setdefault(k, [])
            if lst and lst[-1] == inc.id:
                continue
            if inc.id in lst:
                lst.remove(inc.id)
            lst.append(inc.id)
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

    def _explained(self, svc: str | None, inc: IncidentState, t: float) -> int:
        """Could one fault explain both? Only if the alert's service lies on a dependency
        path through one of the incident's roots (its most upstream affected services), and,
        when propagation delays are set, only if the timing fits: a cascade needs time per hop
        to reach a dependent but not forever, and a cause alerting after its symptoms does so
        soon after them, else it is a new fault upstream.

        0: no; 1: yes (it is a root, or a cause above one); 2: yes, as a cascade below a root
        (the incident's anchor explains it, which `w_anchor` rewards)."""
        if svc is None:
            return 1
        cfg = self.config
        dist = self._up_dist.get(svc, {})
        best = 0
        for r in inc.roots:  # a set: take the best fit, so iteration order never matters
            h = dist.get(r)
            if h is not None:  # svc depends on root r, h hops down
                if cfg.hop_delay is None or t - inc.services[r] <= cfg.anchor_slack + h * cfg.hop_delay:
                    return 2
            elif r == svc or (
                svc in self._up.get(r, ())  # svc lies above the root: would become the new root
                and (cfg.upstream_lag is None or t - inc.services[r] <= cfg.upstream_lag)
            ):
                best = 1
        return best

    def _add_root(self, inc: IncidentState, svc: str) -> None:
        up = self._up.get(svc, frozenset())
        if any(r in up for r in inc.roots):
            return  # something it depends on already alerts: not a root
        inc.roots = {r for r in inc.roots if svc not in self._up.get(r, ())}
        inc.roots.add(svc)

    def service_of(self, alert: Alert) -> str | None:
        """The alert's service, else the one learned for its pod's workload (pod name minus
        the ReplicaSet hash and pod suffix) from earlier alerts that named both."""
        pod = alert.labels.get("pod")
        workload = pod.rsplit("-", 2)[0] if pod and pod.count("-") >= 2 else None
        if alert.service:
            if workload and workload not in self._workloads:
                self._workloads[workload] = alert.service
            return alert.service
        return self._workloads.get(workload) if workload else None

    def _features(self, alert: Alert) -> tuple[str | None, list[tuple], list[tuple[tuple, float, float]]]:
        """(service, facts this alert adds to its incident, queries: key, weight, horizon)."""
        cfg = self.config
        facts: list[tuple] = []
        queries: list[tuple[tuple, float, float]] = []
        svc = self.service_of(alert)
        if svc:
            facts.append(("svc", svc))
            cached = self._svc_queries.get(svc)
            if cached is None:
                cached = self._svc_queries[svc] = [
                    (("svc", svc), cfg.w_same_service, cfg.window),
                    *((("svc", n), w, cfg.cascade_window) for n, w in self._related.get(svc, ())),
                ]
            queries.extend(cached)
        labels = alert.labels
        group = tuple(labels.get(g) for g in cfg.group_labels)
        if group[-1]:
            facts.append(("grp", *group))
            queries.append((facts[-1], cfg.w_namespace, cfg.cascade_window))
        facts.append(("tpl", self.miner.add(alert.message)))
        queries.append((facts[-1], cfg.w_template if svc else cfg.w_template_unowned, cfg.cascade_window))
        return svc, facts, queries

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
        return len(gone)
