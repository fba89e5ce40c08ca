"""Metric evidence in cause ranking, against a real Prometheus whose TSDB the test fills
(promtool): a deployment of payments is followed by an error spike on payments, then on
checkout (which calls it); checkout alerts first. The cause names payments with the metric
break and the deployment before it. With Prometheus down the ranking proceeds without
metric evidence, says so, and does not wait long."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests import realservices
from tools.alerts.changes import deployment_changes
from tools.alerts.metric_evidence import first_breaks, prometheus_provider
from tools.alerts.models import Alert
from tools.alerts.pipeline import AlertPipeline
from tools.catalog import ServiceCatalog
from tools.delivery.models import DeploymentEvent
from tools.errors import BackendUnreachable, ToolError
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import Store
from tools.store import alerts as s
from tools.store.delivery import upsert_deployments

STEP = 60
END = (int(time.time()) // 3600 - 3) * 3600  # whole hour, safely in the past (blocks are immutable)
START = END - 8 * 3600
DEPLOY_AT = END - 2 * 3600
SPIKE_AT = DEPLOY_AT + 4 * 60  # payments' errors
SYMPTOM_AT = SPIKE_AT + 4 * 60  # checkout's errors, a symptom
FIRST_ALERT = SYMPTOM_AT + 60  # checkout alerts first; payments 90 s later
METRIC = "triops_svc_errors_ratio"
FS_AT = END - 4 * 3600  # feature-store breaks (it never alerts), ranking 4 min later, alerting 1 min after


def _openmetrics() -> str:
    rng = np.random.default_rng(7)
    lines = [f"# TYPE {METRIC} gauge"]
    for svc, spike in (("payments", SPIKE_AT), ("checkout", SYMPTOM_AT), ("search", None),
                       ("feature-store", FS_AT), ("ranking", FS_AT + 240)):
        for t in range(START, END + 1, STEP):
            v = 0.002 + abs(rng.normal(0, 0.0003)) + (0.03 if spike is not None and t >= spike else 0.0)
            lines.append(f'{METRIC}{{service="{svc}"}} {v:.6f} {t}')
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[realservices.Process]:
    with realservices.prometheus_with_series(tmp_path_factory.mktemp("prom"), _openmetrics()) as p:
        yield p


def _catalog() -> ServiceCatalog:
    """The demo topology, each service's error signal pointed at the test's series."""
    return ServiceCatalog(services=[
        svc.model_copy(update={"promql": {"errors": f'{METRIC}{{service="{svc.name}"}}'}}) for svc in catalog().services
    ])


def _alert(name: str, service: str, at: float) -> Alert:
    return Alert(source="alertmanager", fingerprint=f"{name}/{service}", name=name, service=service,
                 severity="critical", status="firing", labels={"alertname": name, "service": service},
                 annotations={"summary": f"{name} on {service}"}, starts_at=datetime.fromtimestamp(at, UTC))


def _storm(tmp_path: Path, settings: Settings) -> tuple[AlertPipeline, str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = Store.open(f"sqlite:///{tmp_path}/t.db")
    with store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent(id="pay-deploy-7", service="payments", status="success",
                                                  finished_at=datetime.fromtimestamp(DEPLOY_AT, UTC), version="v7")])
    cat = _catalog()
    p = AlertPipeline(store, cat, providers=[deployment_changes], clock=lambda: datetime.fromtimestamp(FIRST_ALERT + 600, UTC),
                      metrics=prometheus_provider(settings, cat))
    (iid,) = p.ingest([_alert("HighErrorRate", "checkout", FIRST_ALERT)]).opened
    p.ingest([_alert("PaymentsErrors", "payments", FIRST_ALERT + 90)])
    assert p.settle(timeout=60)  # the evidence is read in the background, then saved
    return p, p.engine.resolve_id(iid)


def test_a_deploy_caused_error_spike_upstream_names_the_cause_with_its_metric_evidence(
        prom: realservices.Process, tmp_path: Path) -> None:
    p, iid = _storm(tmp_path, Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=prom.url))
    with p.store.engine.connect() as conn:
        found = s.get_incident(conn, iid)
    assert found is not None
    summary, _members = found
    assert summary.services == ["checkout", "payments"] and not summary.no_clear_cause
    top = summary.causes[0]
    assert top.service == "payments" and top.change is not None and top.change.id == "pay-deploy-7"
    kinds = {f.kind: f for f in top.facts}
    brk = kinds["metric_break"]
    assert brk.weight > 0 and "broke first" in brk.text and "payments errors" in brk.text
    assert brk.at is not None and SPIKE_AT - 120 <= brk.at.timestamp() <= SPIKE_AT + 5 * STEP
    assert "pay-deploy-7" in kinds["change_precedes_break"].text
    # the card's data: every service's first break, earliest first; the symptom's comes later
    assert [b.service for b in summary.metric_breaks] == ["payments", "checkout"]
    assert summary.metric_breaks[1].at.timestamp() >= SYMPTOM_AT - 120
    assert summary.metric_note == ""
    checkout = next(c for c in summary.causes if c.service == "checkout")
    assert not any("broke first" in f.text for f in checkout.facts)


def test_a_silent_dependency_whose_signals_broke_first_is_named(prom: realservices.Process, tmp_path: Path) -> None:
    """Only ranking alerts. Its dependency feature-store never alerts, but its errors broke
    4 min before ranking's: feature-store is named (inferred, not alerting), on that evidence."""
    store = Store.open(f"sqlite:///{tmp_path}/t.db")
    cat = _catalog()
    settings = Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=prom.url)
    p = AlertPipeline(store, cat, providers=[], clock=lambda: datetime.fromtimestamp(FS_AT + 900, UTC),
                      metrics=prometheus_provider(settings, cat))
    (iid,) = p.ingest([_alert("RankingErrors", "ranking", FS_AT + 300)]).opened
    assert p.settle(timeout=60)
    summary = p.summary(iid)
    assert summary is not None and not summary.no_clear_cause
    top = summary.causes[0]
    assert top.service == "feature-store" and not top.alerting
    assert any(f.kind == "metric_break" and "broke first" in f.text for f in top.facts)
    assert [b.service for b in summary.metric_breaks] == ["feature-store", "ranking"]
    alone = AlertPipeline(Store.open(f"sqlite:///{tmp_path}/t2.db"), cat, providers=[],
                          clock=lambda: datetime.fromtimestamp(FS_AT + 900, UTC))
    (iid2,) = alone.ingest([_alert("RankingErrors", "ranking", FS_AT + 300)]).opened
    without = alone.summary(iid2)
    assert without is not None and without.causes[0].service == "ranking"  # no metrics: nothing to see


@contextmanager
def _dead_end() -> Iterator[tuple[str, list[int]]]:
    """A loopback port that accepts each connection and closes it unanswered (a Prometheus
    that is down behind a listener): (its URL, connections seen so far)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    seen = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            seen[0] += 1
            conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}", seen
    finally:
        stop.set()
        th.join()
        srv.close()


def test_prometheus_down_ranks_without_metric_evidence_and_says_so(tmp_path: Path) -> None:
    with _dead_end() as (dead, seen):
        p, iid = _storm(tmp_path, Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=dead,
                                           TRIOPS_PROMETHEUS_TIMEOUT_S=2))
    # two incident updates, 6 services with a signal each: one failed read, then no more asking
    assert seen[0] == 1
    with p.store.engine.connect() as conn:
        found = s.get_incident(conn, iid)
    assert found is not None
    summary, _ = found
    assert "unreachable" in summary.metric_note and "without metric evidence" in summary.metric_note
    assert summary.causes and summary.metric_breaks == []
    assert not any(f.kind.startswith("metric") for c in summary.causes for f in c.facts)


def test_no_provider_without_a_prometheus_url(tmp_path: Path) -> None:
    assert prometheus_provider(Settings(TRIOPS_HOME=tmp_path), catalog()) is None


def test_a_refused_query_is_named_and_a_bug_is_not_swallowed() -> None:
    def refusing(q: str, start: float, end: float) -> tuple[list[float], list[float]] | None:
        raise ToolError(f"bad PromQL {q!r}: parse error")

    ev = first_breaks(refusing, {"payments": {"errors": "rate(x[5m]"}}, 1e9)
    assert ev.available and ev.breaks == [] and "payments errors: bad PromQL" in ev.note

    # the failure's type decides, not its words: a refusal that mentions "unreachable" is
    # still one refused query (the next one is read); an BackendUnreachable stops the reading
    asked: list[str] = []

    def by_type(q: str, start: float, end: float) -> tuple[list[float], list[float]] | None:
        asked.append(q)
        if q == "down":
            raise BackendUnreachable("Prometheus at http://x is unreachable (ConnectError)")
        raise ToolError(f"bad PromQL {q!r}: label 'unreachable' unknown")

    ev = first_breaks(by_type, {"payments": {"errors": "a"}, "checkout": {"errors": "b"},
                                "search": {"errors": "down"}, "auth": {"errors": "c"}}, 1e9)
    assert asked == ["a", "b", "down"] and "without metric evidence" in ev.note
    assert "payments errors: bad PromQL" in ev.note and "checkout errors: bad PromQL" in ev.note

    def broken(q: str, start: float, end: float) -> tuple[list[float], list[float]] | None:
        raise TypeError("a bug")

    with pytest.raises(TypeError):
        first_breaks(broken, {"payments": {"errors": "x"}}, 1e9)


def test_the_card_shows_which_signal_broke_first_or_why_there_is_none(prom: realservices.Process, tmp_path: Path) -> None:
    import json

    from bot.render.alerts import incident_card

    p, iid = _storm(tmp_path, Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=prom.url))
    card = json.dumps([b.to_dict() for b in incident_card(p.summary(iid))])  # type: ignore[arg-type]
    assert "*Metrics*" in card and "payments errors broke at" in card and "before the first alert" in card
    down, iid2 = _storm(tmp_path / "down", Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_TIMEOUT_S=2,
                                                    TRIOPS_PROMETHEUS_URL=f"http://127.0.0.1:{realservices.free_port()}"))
    card = json.dumps([b.to_dict() for b in incident_card(down.summary(iid2))])  # type: ignore[arg-type]
    assert "*Metrics*" in card and "without metric evidence" in card


def test_the_pipeline_reads_again_only_when_services_change_and_pauses_after_a_failure() -> None:
    from tools.alerts.metric_evidence import IncidentMetrics, MetricEvidence

    calls: list[tuple[str, ...]] = []
    up = [True]

    def provider(services, first):  # type: ignore[no-untyped-def]
        calls.append(tuple(services))
        return MetricEvidence(checked=list(services)) if up[0] else MetricEvidence(available=False, note="down")

    ready: list[str] = []
    m = IncidentMetrics(provider, catalog(), retry_s=60.0, on_ready=ready.append)
    pending = m.get("i1", {"checkout": 10.0})  # never waits: the read runs in the background
    assert pending is not None and not pending.available and "pending" in pending.note
    assert m.settle(timeout=10) and ready == ["i1"]  # ... and says when it is in
    got = m.get("i1", {"checkout": 10.0})
    assert got is not None and got.available and got.checked == ["checkout", "payments", "inventory", "auth"]
    assert calls == [("checkout", "payments", "inventory", "auth")]  # its own, then what it calls
    stale = m.get("i1", {"checkout": 10.0, "payments": 20.0})  # services changed: read again...
    assert stale is got  # ... meanwhile the evidence read so far
    assert m.settle(timeout=10) and len(calls) == 2
    up[0] = False
    m.get("i2", {"search": 5.0})
    assert m.settle(timeout=10)
    assert not m.get("i2", {"search": 5.0}).available  # type: ignore[union-attr]
    later = m.get("i3", {"auth": 7.0})
    assert len(calls) == 3 and later is not None and not later.available and "moments ago" in later.note
    m.forget({"i1"})
    assert m.get("i1", {"checkout": 10.0, "payments": 20.0}) is not None and len(calls) == 3


def test_evidence_that_could_not_be_read_is_asked_again_once_prometheus_may_answer() -> None:
    """Prometheus was down when the incident was read: after `retry_s` the incident's next
    save asks again, so its card gets the evidence once Prometheus is back."""
    from tools.alerts.metric_evidence import IncidentMetrics, MetricEvidence

    calls: list[tuple[str, ...]] = []
    up = [False]

    def provider(services, first):  # type: ignore[no-untyped-def]
        calls.append(tuple(services))
        return MetricEvidence(checked=list(services)) if up[0] else MetricEvidence(available=False, note="down")

    m = IncidentMetrics(provider, catalog(), retry_s=0.0)  # the pause after a failure is over at once
    m.get("i1", {"checkout": 10.0})
    assert m.settle(timeout=10) and len(calls) == 1
    up[0] = True  # Prometheus is back
    stale = m.get("i1", {"checkout": 10.0})  # the failure expired: asked again...
    assert stale is not None and not stale.available  # (meanwhile the card says why there is none)
    assert m.settle(timeout=10) and len(calls) == 2
    got = m.get("i1", {"checkout": 10.0})
    assert got is not None and got.available and got.checked


def test_a_stopping_replica_saves_the_metric_evidence_it_is_reading_before_it_hands_over(tmp_path: Path) -> None:
    """`triops serve` stops while an incident's evidence is being read: the ticker's stop
    waits (up to its deadline) for it to arrive and be saved, then hands the lease over."""
    from bot.alerts_runtime import AlertTicker, get_pipeline
    from bot.runtime import Runtime
    from tests.doubles.http import HttpDouble, Request

    gate = threading.Event()

    def query_range(req: Request, _m: object) -> tuple[int, dict]:
        gate.wait(60)  # answers when the test says (60 s is only a hang guard)
        return 200, {"status": "success", "data": {"resultType": "matrix", "result": []}}

    prom = HttpDouble()
    prom.route("GET", "/api/v1/query_range", query_range)
    prom.start()
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=prom.url, TRIOPS_PROMETHEUS_TIMEOUT_S=90),
                       catalog=_catalog())
    ticker = AlertTicker(rt, every=3600.0)
    try:
        ticker.start()
        p = get_pipeline(rt)
        (iid,) = p.ingest([_alert("HighErrorRate", "checkout", time.time() - 120)]).opened
        deadline = time.monotonic() + 30  # a hang guard only
        while not prom.calls("GET", "/api/v1/query_range"):
            assert time.monotonic() < deadline, "the metric evidence was never asked for"
            time.sleep(0.02)
        stopping = threading.Thread(target=ticker.stop, args=(time.monotonic() + 60,))
        stopping.start()
        # the stop either ends (it did not wait: a bug) or parks waiting for the evidence
        while stopping.is_alive() and not _waiting_in_settle(stopping):
            assert time.monotonic() < deadline + 30, "the stop neither ended nor waited for the evidence"
            time.sleep(0.01)
        assert stopping.is_alive() and p.is_owner  # Prometheus has not answered: still waiting, lease kept
        gate.set()
        stopping.join(timeout=60)
        assert not stopping.is_alive() and not p.is_owner
        with rt.store.engine.connect() as conn:
            found = s.get_incident(conn, iid)
        assert found is not None and "pending" not in found[0].metric_note, found[0].metric_note
    finally:
        gate.set()
        prom.stop()


def _waiting_in_settle(thread: threading.Thread) -> bool:
    """The thread is inside the metric reader's settle() (waiting for evidence in flight)."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == "settle" and frame.f_code.co_filename.endswith("metric_evidence.py"):
            return True
        frame = frame.f_back
    return False


def _card_of(calls: list, incident_id: str) -> dict:
    (card,) = [c.params for c in calls if not c.params.get("thread_ts")
               and (c.params.get("metadata") or {}).get("event_payload", {}).get("incident_id") == incident_id]
    return card


def test_a_slow_prometheus_stalls_no_other_incident_and_its_evidence_reaches_the_card_later(tmp_path: Path) -> None:
    """Prometheus (a loopback double answering /api/v1/query_range as Prometheus does) holds
    every query until the test lets it answer. Meanwhile alerts of a second incident are
    acknowledged, correlated and its card posted: evidence is read off the pipeline's lock.
    Once Prometheus answers, the first incident's card is updated with the break it shows."""
    import json

    from slack_sdk import WebClient

    from bot.alerts_runtime import get_pipeline
    from bot.runtime import Runtime
    from bot.slack.incidents import install_notifier, register_actions
    from tests.doubles.http import HttpDouble, Request
    from tests.slack_harness import SlackHarness

    first_alert = time.time() - 120
    spike_at = first_alert - 240
    gate = threading.Event()
    answered: list[str] = []

    def query_range(req: Request, _m: object) -> tuple[int, dict]:
        gate.wait(60)  # slow: answers when the test says (60 s is only a hang guard)
        q, start, end, step = req.query["query"], float(req.query["start"]), float(req.query["end"]), \
            float(req.query["step"])
        result = []
        if q == f'{METRIC}{{service="payments"}}':
            rng = np.random.default_rng(7)
            result = [{"metric": {"__name__": METRIC, "service": "payments"}, "values": [
                [t, f"{0.002 + abs(rng.normal(0, 0.0003)) + (0.03 if t >= spike_at else 0.0):.6f}"]
                for t in np.arange(start, end + 1, step).tolist()]}]
        answered.append(q)
        return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}

    prom = HttpDouble()
    prom.route("GET", "/api/v1/query_range", query_range)
    prom.start()
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_PROMETHEUS_URL=prom.url, TRIOPS_PROMETHEUS_TIMEOUT_S=90,
                                TRIOPS_INCIDENT_CHANNEL="C_INCIDENTS"), catalog=_catalog())
    h = SlackHarness.start(rt, extensions=[register_actions])
    notifier = install_notifier(rt, WebClient(token="xoxb-test", base_url=h.double.base_url))
    assert notifier is not None
    notifier.min_interval = 0.0

    def post(alert: dict) -> list[str]:
        r = h.http.post("/hooks/alerts", content=json.dumps([alert]))
        assert r.status_code == 202, r.text
        return list(r.json()["incidents"])

    def at(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).isoformat()

    try:
        (slow,) = post({"name": "CheckoutErrors", "service": "payments", "severity": "critical",
                        "starts_at": at(first_alert)})
        deadline = time.monotonic() + 30  # a hang guard only
        while not prom.calls("GET", "/api/v1/query_range"):  # its evidence is being read...
            assert time.monotonic() < deadline, "the metric evidence was never asked for"
            time.sleep(0.02)
        (other,) = post({"name": "SearchDown", "service": "search", "severity": "critical",
                         "starts_at": at(first_alert + 30)})  # ... another incident: acked and placed
        assert other != slow
        assert notifier.run_pending() == 2  # both cards posted...
        cards = h.double.of("chat.postMessage")
        assert answered == []  # ... before Prometheus answered a single query
        assert "metric evidence pending" in json.dumps(_card_of(cards, slow)["blocks"])
        _card_of(cards, other)
        gate.set()
        assert get_pipeline(rt).settle(timeout=120)
        with rt.store.engine.connect() as conn:
            where = s.slack_message(conn, slow)
        assert where is not None
        deadline = time.monotonic() + 30  # a hang guard only
        while True:  # the arrival saved the incident and queued its card
            notifier.run_pending()
            updates = [json.dumps(c.params["blocks"]) for c in h.double.of("chat.update") if c.params["ts"] == where[1]]
            if any("payments errors broke at" in u for u in updates):
                break
            assert time.monotonic() < deadline, f"the evidence never reached the card: {updates}"
            time.sleep(0.05)
        assert answered  # it did answer, after the cards above
        with rt.store.engine.connect() as conn:
            found = s.get_incident(conn, slow)
        assert found is not None and [b.service for b in found[0].metric_breaks] == ["payments"]
        assert found[0].metric_note == ""
    finally:
        gate.set()
        h.stop()
        prom.stop()
