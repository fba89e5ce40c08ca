"""Incident summaries maintained incrementally equal the full recomputation, always.

`IncrementalSummaries` keeps the per-alert parts of a summary (each service's first alert,
flapping names, held-back notes) as alerts arrive; hypothesis drives random streams through
the real engine (repeats that replace an alert's latest notification, renamed repeats,
resolves, re-fires and flapping, held-back notes, service-less alerts the ranking credits to
their pod's workload, late causes that merge incidents, human
merges and splits, unreported notifications) and compares every dirty incident's summary
with `summarise` after every batch.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.alerts_helpers import T0
from tools.alerts.correlate import CorrelationEngine
from tools.alerts.models import Alert, ChangeEvent
from tools.alerts.summary import IncrementalSummaries, summarise
from tools.catalog import Service, ServiceCatalog

CATALOG = ServiceCatalog(services=[
    Service(name="web", depends_on=["api"]), Service(name="api", depends_on=["db", "cache"]),
    Service(name="worker", depends_on=["db"]), Service(name="db"), Service(name="cache"),
])
SERVICES = [None, "web", "api", "worker", "db", "cache", "unknown-svc"]
CHANGES = [ChangeEvent(kind="deployment", id="d1", service="api", at=datetime.fromtimestamp(T0 - 300, UTC),
                       summary="v2", status="success")]

notification = st.fixed_dictionaries({
    "op": st.just("notify"),
    "name": st.sampled_from(["HighErrorRate", "Latency", "PodCrash"]),
    "service": st.sampled_from(SERVICES),
    "fp": st.integers(0, 7),
    "start": st.integers(0, 5),  # few distinct starts: repeats of one occurrence are common
    "status": st.sampled_from(["firing", "firing", "resolved"]),
    "held": st.sampled_from([None, None, "2 more", "5 more"]),
    "dt": st.floats(-30, 400),
    # a service-less alert counts for its pod's workload once that is an affected service
    "pod": st.sampled_from([None, "api-5f6d8-x1z", "db-77c-q2", "web-1-2", "cache", "worker-a-b-c"]),
})
# Splits come last: the engine keeps a split-off service in the old incident's indexes, and a
# later alert of that service fails to place (KeyError in _place_new; reported to its owner).
merge = st.fixed_dictionaries({"op": st.just("merge"), "pick": st.integers(0, 10**6)})
split = st.fixed_dictionaries({"op": st.just("split"), "pick": st.integers(0, 10**6)})
batch_end = st.fixed_dictionaries({"op": st.just("save"), "report": st.sampled_from([True, True, True, False])})
stream = st.tuples(st.lists(st.one_of(notification, notification, notification, batch_end, merge),
                            min_size=1, max_size=80), st.lists(split, max_size=2)).map(lambda t: t[0] + t[1])


def _alert(n: dict[str, Any], t: float) -> Alert:
    started = T0 + n["start"] * 90.0 + n["fp"]
    annotations = {"summary": f"{n['name']} on {n['service']}"}
    if n["held"]:
        annotations["truncated_alerts"] = n["held"]
    return Alert(
        source="alertmanager", fingerprint=f"fp{n['fp']}", name=n["name"], service=n["service"],
        severity="critical" if n["fp"] % 3 == 0 else "warning", status=n["status"],
        labels={"alertname": n["name"], **({"service": n["service"]} if n["service"] else {}),
                **({"pod": n["pod"]} if n.get("pod") else {})},
        annotations=annotations, starts_at=datetime.fromtimestamp(started, UTC),
        ends_at=datetime.fromtimestamp(max(started, T0 + t), UTC) if n["status"] == "resolved" else None,
    )


def _human(engine: CorrelationEngine, pick: int, op: str) -> None:
    live = sorted(i for i, inc in engine.incidents.items() if inc.status == "open" and inc.alert_ids)
    try:
        if op == "merge" and len(live) >= 2:
            engine.merge(live[pick % len(live)], live[(pick // 7 + 1) % len(live)], by="U1")
        elif op == "split" and live:
            inc = engine.incidents[live[pick % len(live)]]
            engine.split(inc.id, inc.alert_ids[: 1 + pick % max(1, len(inc.alert_ids) - 1)], by="U1")
    except (KeyError, ValueError):
        pass  # the same incident twice, or a split of everything: the engine refuses, fine


def _check(engine: CorrelationEngine, summaries: IncrementalSummaries, dirty: set[str], changes: list) -> int:
    checked = 0
    for iid in sorted(dirty):
        inc = engine.incidents.get(iid)
        if inc is None:
            continue
        fast = summaries.summarise(inc, CATALOG, changes)
        full = summarise(inc, CATALOG, changes)
        assert fast.model_dump() == full.model_dump(), iid
        assert fast == full
        checked += 1
    return checked


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=stream, with_changes=st.booleans())
def test_incremental_summaries_equal_the_full_recomputation(ops: list[dict[str, Any]], with_changes: bool) -> None:
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    changes = CHANGES if with_changes else []
    t = 0.0
    notified: list[tuple[str, str]] = []
    for op in [*ops, {"op": "save", "report": True}]:
        if op["op"] == "notify":
            t += op["dt"]
            a = _alert(op, t)
            p = engine.process(a)
            notified.append((p.alert_id, p.incident_id))
        elif op["op"] == "save":
            if op["report"]:  # the pipeline reports what it processed; unreported must still be right
                summaries.touch(notified)
            notified = []
            _check(engine, summaries, engine.take_dirty(), changes)
        else:
            _human(engine, op["pick"], op["op"])
            summaries.touch(notified)
            notified = []
            _check(engine, summaries, engine.take_dirty(), changes)
    _check(engine, summaries, set(engine.incidents), changes)  # every incident, dirty or not


def test_a_growing_incident_is_summarised_without_recounting_it() -> None:
    """One incident growing to 2,000 alerts in batches of 10: its parts are built once and
    then only brought up to date (each batch adds its 10 alerts, never recounts)."""
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    for b in range(200):
        notified = []
        for i in range(10):
            k = b * 10 + i
            n = {"name": "Latency", "service": "db", "fp": k, "start": 0, "status": "firing",
                 "held": "3 more" if k == 1234 else None}
            a = _alert(n, 0.0).model_copy(update={"fingerprint": f"g{k}",
                                                   "starts_at": datetime.fromtimestamp(T0 + k * 0.1, UTC)})
            p = engine.process(a)
            notified.append((p.alert_id, p.incident_id))
        summaries.touch(notified)
        for iid in engine.take_dirty():
            s = summaries.summarise(engine.incidents[iid], CATALOG)
    assert s.alert_count == 2000 and s.held_back == ["3 more"]
    assert s == summarise(engine.incidents[s.id], CATALOG)
    assert summaries.rebuilds == 1, summaries.rebuilds


def _notify(engine: CorrelationEngine, t: float, **over: Any) -> tuple[str, str]:
    n = {"op": "notify", "name": "Latency", "service": "db", "fp": 0, "start": 0, "status": "firing",
         "held": None, "dt": 0.0, **over}
    p = engine.process(_alert(n, t))
    return p.alert_id, p.incident_id


def test_a_repeat_nobody_reported_is_still_counted() -> None:
    """A caller that processed a notification without `touch`ing it gets a rebuild, not a
    summary that misses the repeat's new held-back note."""
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    summaries.touch([_notify(engine, 1.0), _notify(engine, 2.0, fp=1)])
    iid = engine.take_dirty().pop()
    assert summaries.summarise(engine.incidents[iid], CATALOG).held_back == []
    _notify(engine, 3.0, held="4 more")  # a repeat of fp0's occurrence, not reported
    s = summaries.summarise(engine.incidents[iid], CATALOG)
    assert s.held_back == ["4 more"] and s == summarise(engine.incidents[iid], CATALOG)
    assert summaries.rebuilds == 2


def test_a_reported_repeat_that_renames_or_moves_an_alert() -> None:
    """A repeat may carry another name (flapping names follow it) or another service (each
    service's first alert moves: rebuilt)."""
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    notified = [_notify(engine, 1.0), _notify(engine, 2.0, fp=1, service="api")]
    iid = notified[0][1]
    inc = engine.incidents[iid]
    inc.flapping.add("fp0")
    summaries.touch(notified)
    assert summaries.summarise(inc, CATALOG).flapping == ["Latency"]
    summaries.touch([_notify(engine, 3.0, name="DiskFull")])
    s = summaries.summarise(inc, CATALOG)
    assert s.flapping == ["DiskFull"] and s == summarise(inc, CATALOG) and summaries.rebuilds == 1
    summaries.touch([_notify(engine, 4.0, fp=1, service="cache")])
    s = summaries.summarise(inc, CATALOG)
    assert s == summarise(inc, CATALOG) and summaries.rebuilds == 2


def test_after_a_split_both_incidents_are_recounted() -> None:
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    notified = [_notify(engine, float(i), fp=i, service="db", held="1 more" if i == 2 else None) for i in range(4)]
    summaries.touch(notified)
    iid = notified[0][1]
    assert summaries.summarise(engine.incidents[iid], CATALOG).held_back == ["1 more"]
    rec = engine.split(iid, [notified[2][0]], by="U1")
    summaries.touch([_notify(engine, 5.0, fp=9, service="db")])
    for i in (iid, rec.into):
        s = summaries.summarise(engine.incidents[i], CATALOG)
        assert s == summarise(engine.incidents[i], CATALOG)
    assert summaries.summarise(engine.incidents[iid], CATALOG).held_back == []
    assert summaries.rebuilds == 3


def test_a_pod_alert_counts_for_its_workload_once_that_alerts() -> None:
    """A service-less alert of pod api-… (placed on db: a db alert named that pod first):
    the ranking does not count it while api is not affected, then counts it for api, as
    api's first alert, since it came before api's own; incrementally exactly as recounted,
    without rebuilding."""
    engine = CorrelationEngine(CATALOG)
    summaries = IncrementalSummaries(lambda: engine.stats["events"])
    db = _notify(engine, 1.0, fp=0, service="db", pod="api-5f6d8-aaa")
    iid = db[1]
    pod = _notify(engine, 2.0, fp=1, service=None, pod="api-5f6d8-x1z")
    summaries.touch([db, pod])
    inc = engine.incidents[iid]
    assert pod[1] == iid and "api" not in inc.services
    s = summaries.summarise(inc, CATALOG)
    assert s == summarise(inc, CATALOG)
    api = [_notify(engine, 3.0 + i, fp=2 + i, service="api") for i in range(2)]
    summaries.touch(api)
    assert all(i == iid for _a, i in api) and "api" in inc.services
    s = summaries.summarise(inc, CATALOG)
    assert s == summarise(inc, CATALOG)
    own = next(f for c in s.causes if c.service == "api" for f in c.facts if f.kind == "own_alerts")
    assert own.text == "fired 3 distinct alerts of its own"  # its two, and the pod's
    first = next(f for c in s.causes if c.service == "api" for f in c.facts if f.kind in ("first_alert", "early_alert"))
    assert first.alert_id == pod[0]
    assert summaries.rebuilds == 1
