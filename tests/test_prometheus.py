"""The Prometheus client and the metrics tools against a real Prometheus 2.x whose TSDB the test
fills (promtool): a deploy-caused error spike, a disk filling up, a quiet control; bad input."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from bot.render.metrics import FORECAST, METRICS
from tests import realservices
from tools.catalog import ServiceCatalog
from tools.contract import ToolContext
from tools.delivery.ingest import store_deployments
from tools.delivery.models import DeploymentEvent
from tools.errors import BackendUnreachable, NoDataError, QueryRefused, ToolError
from tools.metrics.anomaly import score_series
from tools.metrics.models import ForecastReport, MetricsReport
from tools.metrics.prometheus import PrometheusClient, choose_step, without_userinfo
from tools.metrics.tool import forecast_exhaustion, service_metrics
from tools.settings import Settings
from tools.store import Store

STEP = 60
END = (int(time.time()) // 3600 - 3) * 3600  # whole hour, safely in the past (blocks are immutable)
START = END - 2 * 86400
DEPLOY_AT = END - 6 * 3600
SPIKE_AT = DEPLOY_AT + 3 * 60
DISK_SIZE = 1e12
GAP = (END - 20 * 3600, END - 14 * 3600)


def _openmetrics() -> str:
    rng = np.random.default_rng(13)
    lines = ["# TYPE triops_test_errors_ratio gauge", "# TYPE triops_test_quiet gauge",
             "# TYPE node_filesystem_avail_bytes gauge", "# TYPE node_filesystem_size_bytes gauge",
             "# TYPE triops_test_gappy gauge"]
    body: list[str] = []
    for i, t in enumerate(range(START, END + 1, STEP)):
        if not GAP[0] <= t < GAP[1]:  # a ratio filling up, with NaN and +Inf samples and a 6-hour gap
            v = "NaN" if i % 50 == 7 else "+Inf" if i % 97 == 3 else f"{0.2 + (t - START) * 4e-6:.6f}"
            body.append(f'triops_test_gappy{{instance="node-9"}} {v} {t}')
        err = 0.002 + abs(rng.normal(0, 0.0003)) + (0.028 if t >= SPIKE_AT else 0.0)
        body.append(f'triops_test_errors_ratio{{service="payments"}} {err:.6f} {t}')
        body.append(f'triops_test_quiet{{service="search"}} {5 + rng.normal(0, 0.1):.4f} {t}')
        avail = DISK_SIZE * 0.5 - (t - START) * 2e6 + rng.normal(0, 1e8)  # ~2 MB/s used
        body.append(f'node_filesystem_avail_bytes{{instance="node-3",mountpoint="/data"}} {avail:.0f} {t}')
        body.append(f'node_filesystem_size_bytes{{instance="node-3",mountpoint="/data"}} {DISK_SIZE:.0f} {t}')
    # OpenMetrics wants each metric family's samples together
    fams: dict[str, list[str]] = {}
    for line in body:
        fams.setdefault(line.split("{")[0], []).append(line)
    out: list[str] = []
    for header in lines:
        name = header.split()[2]
        out.append(header)
        out.extend(fams[name])
    return "\n".join(out) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[realservices.Process]:
    with realservices.prometheus_with_series(tmp_path_factory.mktemp("prom"), _openmetrics()) as p:
        yield p


def test_query_range_reads_the_series_and_the_detector_finds_the_spike_after_the_deploy(
        prom: realservices.Process) -> None:
    with PrometheusClient(prom.url) as client:
        res = client.query_range('triops_test_errors_ratio{service="payments"}', START, END, step=STEP)
        assert len(res.series) == 1 and res.series[0].labels["service"] == "payments"
        s = res.series[0]
        scores = score_series(s.values)
        peak = s.timestamps[int(np.argmax(scores))]
        assert SPIKE_AT <= peak <= SPIKE_AT + 10 * STEP and peak > DEPLOY_AT
        quiet = client.query_range('triops_test_quiet{service="search"}', START, END, step=STEP).series[0]
        assert max(score_series(quiet.values)) < max(scores)
        inst = client.query('triops_test_errors_ratio{service="payments"}', at=END)
        assert inst[0][1] > 0.02


def test_step_is_widened_so_a_wide_range_never_loads_millions_of_points(prom: realservices.Process) -> None:
    with PrometheusClient(prom.url, max_points=500) as client:
        res = client.query_range("node_filesystem_avail_bytes", START, END, step=1)
        assert res.step >= (END - START) / 499
        assert len(res.series[0].values) <= 500
    assert choose_step(0, 10 * 365 * 86400, 15, 11_000) >= 10 * 365 * 86400 / 10_999


def test_bad_input_gives_clear_tool_errors(prom: realservices.Process) -> None:
    with PrometheusClient(prom.url) as client:
        with pytest.raises(QueryRefused, match="bad PromQL"):  # refused by the real Prometheus: typed
            client.query_range("rate(foo[5m]", START, END)
        with pytest.raises(QueryRefused, match=r"could not run .*same labelset"):  # two series lose their names
            client.query('abs({__name__=~"node_filesystem_.*"})', at=END)
        with pytest.raises(NoDataError, match="no series"):
            client.query_range("no_such_metric_anywhere", START, END)
        with pytest.raises(ToolError, match="too wide"):
            client.query_range("up", END - 10 * 365 * 86400, END)
        with pytest.raises(ToolError, match="empty time range"):
            client.query_range("up", END, START)
        with pytest.raises(ToolError, match="empty PromQL"):
            client.query(" ")
    port = realservices.free_port()
    t0 = time.monotonic()
    with PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=2) as dead, \
            pytest.raises(BackendUnreachable, match="unreachable"):
        dead.query("up")
    assert time.monotonic() - t0 < 5
    with pytest.raises(ToolError, match="http"):
        PrometheusClient("ftp://x")


def test_no_answer_in_time_is_backend_unreachable() -> None:
    """A port that accepts the connection and never answers (a hung Prometheus): typed as
    unreachable, like a refused connection, within the timeout."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as hung:
        port = hung.getsockname()[1]
        t0 = time.monotonic()
        with PrometheusClient(f"http://127.0.0.1:{port}", timeout_s=0.5) as c, \
                pytest.raises(BackendUnreachable, match="did not answer in time"):
            c.query("up")
        assert time.monotonic() - t0 < 5


def test_a_proxy_in_front_of_a_down_prometheus_and_unavailable_are_unreachable_not_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["query"] == "proxied":
            return httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>")
        if request.url.params["query"] == "busy":
            return httpx.Response(503, json={"status": "error", "errorType": "unavailable", "error": "not ready"})
        return httpx.Response(422, json={"status": "error", "errorType": "execution", "error": "too many samples"})

    with PrometheusClient("http://prom.test", transport=httpx.MockTransport(handler)) as c:
        with pytest.raises(BackendUnreachable, match="HTTP 502"):
            c.query("proxied")
        with pytest.raises(BackendUnreachable, match="not ready"):
            c.query("busy")
        with pytest.raises(QueryRefused, match="too many samples") as refused:
            c.query("heavy")
        assert not isinstance(refused.value, BackendUnreachable)


def test_credentials_in_the_url_never_appear_in_an_error(store: Store, tmp_path: Path) -> None:
    """user:password@ in TRIOPS_PROMETHEUS_URL is a way to authenticate; the messages (which
    reach Slack, incident cards and stored summaries) name the host without them."""
    import socket

    secret = "alice:s3cr3t-pw"

    def leaks(text: str) -> bool:
        return "s3cr3t" in text or "alice" in text

    port = realservices.free_port()
    msgs: list[str] = []
    with PrometheusClient(f"http://{secret}@127.0.0.1:{port}", timeout_s=2) as dead, \
            pytest.raises(BackendUnreachable) as down:
        dead.query("up")
    msgs.append(str(down.value))
    assert f"http://127.0.0.1:{port}" in msgs[-1]  # the host is still named
    with socket.create_server(("127.0.0.1", 0)) as hung, \
            PrometheusClient(f"http://{secret}@127.0.0.1:{hung.getsockname()[1]}", timeout_s=0.3) as c, \
            pytest.raises(BackendUnreachable) as slow:
        c.query("up")
    msgs.append(str(slow.value))

    def handler(request: httpx.Request) -> httpx.Response:
        q = request.url.params["query"]
        if q == "html":
            return httpx.Response(500, text="<html>oops</html>")
        if q == "auth":
            return httpx.Response(401, json={"status": "error", "errorType": "unauthorized", "error": "no"})
        if q == "nodata":
            return httpx.Response(200, json={"status": "success"})
        return httpx.Response(502, text="Bad Gateway")

    with PrometheusClient(f"https://{secret}@prom.test:9090/prom", transport=httpx.MockTransport(handler)) as c:
        for q in ("html", "auth", "nodata", "proxied"):
            with pytest.raises(ToolError) as err:
                c.query(q)
            msgs.append(str(err.value))
    assert "https://prom.test:9090/prom" in msgs[-1]
    with pytest.raises(ToolError) as bad_scheme:
        PrometheusClient(f"ftp://{secret}@prom.test")
    msgs.append(str(bad_scheme.value))
    # through the tool, as a user or an incident card would read it
    res = service_metrics.run(_ctx(f"http://{secret}@127.0.0.1:{port}", store, tmp_path),
                              {"service": "payments", "window": "1d"})
    assert res.status == "error"
    msgs.append(res.message or "")
    assert len(msgs) == 8 and not [m for m in msgs if leaks(m)], msgs
    # the helper itself: every URL in a text, a password with an @ in it, no URL untouched
    assert without_userinfo("at http://u:p@ss@h:1/x and postgresql://me@db/y; mail a@b.c") == \
        "at http://h:1/x and postgresql://db/y; mail a@b.c"


def test_metrics_tool_stops_at_the_first_sign_of_an_unavailable_prometheus(store: Store, tmp_path: Path) -> None:
    """A Prometheus that is up but not serving (starting: a plain-text 503; overloaded: its JSON
    'unavailable'): one request, one clear error, not a wait per golden signal and a 'no data'."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []
    answers = {"starting": (b"Service Unavailable", "text/plain"),
               "busy": (b'{"status":"error","errorType":"unavailable","error":"too many concurrent queries"}',
                        "application/json")}
    mode = {"now": "starting"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            body, ctype = answers[mode["now"]]
            self.send_response(503)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        ctx = _ctx(f"http://127.0.0.1:{srv.server_address[1]}", store, tmp_path)
        for m, words in (("starting", "unreachable (HTTP 503"), ("busy", "unavailable: too many concurrent")):
            mode["now"], hits[:] = m, []
            res = service_metrics.run(ctx, {"service": "payments", "window": "1d"})
            assert res.status == "error" and words in (res.message or ""), res.message
            assert len(hits) == 1  # the first signal's read; the other three were not tried
    finally:
        srv.shutdown()
        srv.server_close()


def test_bearer_and_basic_auth_are_sent_and_refusal_is_named() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.headers.get("authorization") != "Bearer s3cret":
            return httpx.Response(401, json={"status": "error", "errorType": "unauthorized", "error": "no"})
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"a": "b"}, "value": [1, "NaN"]}]}})

    with PrometheusClient("http://prom.test", token="s3cret", transport=httpx.MockTransport(handler)) as c:
        labels, value = c.query("up")[0]
        assert labels == {"a": "b"} and value != value  # NaN kept as a gap
    with PrometheusClient("http://prom.test", username="u", password="p",
                          transport=httpx.MockTransport(handler)) as c, \
            pytest.raises(ToolError, match="refused the credentials"):
        c.query("up")
    assert seen[0] == "Bearer s3cret" and seen[1].startswith("Basic ")


CATALOG = ServiceCatalog.model_validate({"services": [
    {"name": "payments", "promql": {"errors": 'triops_test_errors_ratio{service="{service}"}'}},
    {"name": "search", "promql": {"errors": 'triops_test_quiet{service="{service}"}'}}]})


def _ctx(prom_url: str | None, store: Store, tmp_path: Path) -> ToolContext:
    settings = Settings(_env_file=None, home=tmp_path, database_url=None, prometheus_url=prom_url)
    return ToolContext(settings=settings, store=store, catalog=CATALOG,
                       clock=lambda: datetime.fromtimestamp(END, UTC))


def _deploy(store: Store) -> None:
    store_deployments(store, [
        DeploymentEvent(id="payments-1041", service="payments", status="success",
                        finished_at=datetime.fromtimestamp(DEPLOY_AT - 86400, UTC)),
        DeploymentEvent(id="payments-1042", service="payments", status="success",
                        finished_at=datetime.fromtimestamp(DEPLOY_AT, UTC))])


def test_metrics_tool_marks_the_spike_after_the_deploy(prom: realservices.Process, store: Store,
                                                       tmp_path: Path) -> None:
    _deploy(store)
    ctx = _ctx(prom.url, store, tmp_path)
    res = service_metrics.run(ctx, {"service": "payments", "window": "1d"})
    assert res.status == "ok", res.message
    report = res.output
    assert isinstance(report, MetricsReport)
    errors = next(s for s in report.signals if s.signal == "errors")
    assert errors.anomalies, errors
    mark = errors.anomalies[0]
    assert mark.deploy == "payments-1042" and mark.minutes_after_deploy is not None
    assert 0 <= mark.minutes_after_deploy <= 15
    assert mark.ratio is not None and mark.ratio > 8
    latency = next(s for s in report.signals if s.signal == "latency")
    assert latency.error == "no data"  # the default template finds no http_* series here
    text = METRICS.text(report)
    assert "error rate of payments rose" in text and "after deploy payments-1042" in text
    quiet = service_metrics.run(ctx, {"service": "search", "window": "1d"})
    assert quiet.status == "ok" and isinstance(quiet.output, MetricsReport)
    assert not next(s for s in quiet.output.signals if s.signal == "errors").anomalies


def test_forecast_tool_finds_the_disk_exhaustion(prom: realservices.Process, store: Store, tmp_path: Path) -> None:
    ctx = _ctx(prom.url, store, tmp_path)
    res = forecast_exhaustion.run(ctx, {"target": "disk", "window": "2d"})
    assert res.status == "ok", res.message
    assert isinstance(res.output, ForecastReport)
    line = res.output.lines[0]
    truth_h = (DISK_SIZE * 0.5 - (END - START) * 2e6) / 2e6 / 3600  # ~21.4 h
    assert line.hours is not None and abs(line.hours - truth_h) < 1.5
    assert line.low_hours is not None and line.high_hours is not None
    assert line.low_hours <= line.hours <= line.high_hours
    assert line.low_hours - 0.1 <= truth_h <= line.high_hours + 0.1  # noise is tiny: a tight interval
    assert line.labels["mountpoint"] == "/data"
    assert "/data on node-3 full in ~" in FORECAST.text(res.output)


def test_tools_answer_bad_input_without_a_traceback(prom: realservices.Process, store: Store,
                                                    tmp_path: Path) -> None:
    ctx = _ctx(prom.url, store, tmp_path)
    bad = forecast_exhaustion.run(ctx, {"target": "rate(foo[5m]"})
    assert bad.status == "error" and "bad PromQL" in (bad.message or "")
    empty = forecast_exhaustion.run(ctx, {"target": "no_such_metric"})
    assert empty.status == "no_data"
    wide = forecast_exhaustion.run(ctx, {"target": "disk", "window": "5y"})
    assert wide.status == "error" and "too wide" in (wide.message or "")
    inj = service_metrics.run(ctx, {"service": 'x"}) or vector(1', "window": "1d"})
    assert inj.status == "error" and "not a valid service name" in (inj.message or "")
    nowhere = _ctx(f"http://127.0.0.1:{realservices.free_port()}", store, tmp_path)
    down = service_metrics.run(nowhere, {"service": "payments", "window": "1d"})
    assert down.status == "error" and "unreachable" in (down.message or "")
    unset = service_metrics.run(_ctx(None, store, tmp_path), {"service": "payments"})
    assert unset.status == "error" and "TRIOPS_PROMETHEUS_URL" in (unset.message or "")


def test_scan_posts_once_updates_in_place_and_resolves(prom: realservices.Process, store: Store,
                                                      tmp_path: Path) -> None:
    from datetime import timedelta

    from slack_sdk import WebClient

    from bot.metrics_scan import MetricsScanner
    from bot.runtime import Runtime
    from tests.slack_double import SlackDouble
    from tools.metrics.scan import Finding, plan

    _deploy(store)
    clock = {"now": datetime.fromtimestamp(END, UTC)}
    settings = Settings(_env_file=None, home=tmp_path, database_url=None, prometheus_url=prom.url)
    rt = Runtime.build(settings, store=store, catalog=CATALOG, clock=lambda: clock["now"])
    double = SlackDouble().start()
    try:
        client = WebClient(token="xoxb-test", base_url=double.base_url)
        scanner = MetricsScanner(rt, client, "C-INC", window="1d", recent=timedelta(hours=7), horizon="2d")
        first = scanner.tick()
        assert {a.key for a in first if a.kind == "post"} == {
            "anomaly:payments:errors", "exhaustion:disk:instance=node-3,mountpoint=/data"}
        posts = double.of("chat.postMessage")
        assert len(posts) == 2 and any("after deploy payments-1042" in c.params["text"] for c in posts)
        assert scanner.tick() == []  # the same conditions: nothing posted again
        assert len(double.of("chat.postMessage")) == 2
        # a restart, and a second replica on the same database: the store remembers the posts
        restarted = MetricsScanner(rt, client, "C-INC", window="1d", recent=timedelta(hours=7), horizon="2d")
        remembered = restarted.posted
        assert set(remembered) == {"anomaly:payments:errors", "exhaustion:disk:instance=node-3,mountpoint=/data"}
        assert restarted.tick() == [] and len(double.of("chat.postMessage")) == 2
        clock["now"] = datetime.fromtimestamp(END + 3 * 86400, UTC)  # no recent data: both clear
        cleared = restarted.tick()
        assert sorted(a.kind for a in cleared) == ["resolve", "resolve"]
        assert scanner.tick() == []  # the other replica finds them resolved already
        updates = double.of("chat.update")
        assert len(updates) == 2 and all("resolved" in c.params["text"] for c in updates)
        assert {c.params["ts"] for c in updates} == {ts for ts, _ in remembered.values()}  # in place
        assert scanner.posted == {}
        # the condition comes back: a new message (the resolved one stays resolved)
        clock["now"] = datetime.fromtimestamp(END, UTC)
        again = scanner.tick()
        assert sorted(a.kind for a in again) == ["post", "post"] and len(double.of("chat.postMessage")) == 4
    finally:
        double.stop()
    # identity is the key, not the text: a changed text is an update of the same message
    acts = plan({"k": "old"}, [Finding("k", "anomaly", "new")])
    assert [(a.kind, a.text) for a in acts] == [("update", "new")]


def test_scan_posts_a_condition_whose_claimer_crashed_before_posting(prom: realservices.Process, store: Store,
                                                                     tmp_path: Path) -> None:
    """A replica claimed the disk condition and died before Slack answered (no ts recorded):
    within the lease nobody re-posts it; after the lease the next scan posts it, once."""
    from datetime import timedelta

    from slack_sdk import WebClient

    from bot.metrics_scan import MetricsScanner
    from bot.runtime import Runtime
    from tests.slack_double import SlackDouble
    from tools.metrics import conditions
    from tools.store.metric_conditions import CLAIM_LEASE_S

    disk = "exhaustion:disk:instance=node-3,mountpoint=/data"
    _deploy(store)
    clock = {"now": datetime.fromtimestamp(END, UTC)}
    settings = Settings(_env_file=None, home=tmp_path, database_url=None, prometheus_url=prom.url)
    rt = Runtime.build(settings, store=store, catalog=CATALOG, clock=lambda: clock["now"])
    assert conditions.claim(store, disk, "exhaustion", "C-INC", ":hourglass: old text", float(END))  # then dies
    double = SlackDouble().start()
    try:
        client = WebClient(token="xoxb-test", base_url=double.base_url)
        scanner = MetricsScanner(rt, client, "C-INC", window="1d", recent=timedelta(hours=7), horizon="2d")
        assert [(a.kind, a.key) for a in scanner.tick()] == [("post", "anomaly:payments:errors")]  # in flight
        clock["now"] = datetime.fromtimestamp(END + CLAIM_LEASE_S + 60, UTC)
        assert [a.key for a in scanner.tick() if a.kind == "post"] == [disk]  # the lease ran out
        posts = double.of("chat.postMessage")
        assert len(posts) == 2 and "/data on node-3 full in ~" in posts[1].params["text"]
        ts, text = scanner.posted[disk]
        assert ts is not None and text == posts[1].params["text"]  # the message is recorded
        assert scanner.tick() == [] and len(double.of("chat.postMessage")) == 2  # once
        clock["now"] = datetime.fromtimestamp(END + 3 * 86400, UTC)  # it clears: resolved in place
        assert sorted(a.kind for a in scanner.tick()) == ["resolve", "resolve"]
        assert ts in {c.params["ts"] for c in double.of("chat.update")}
    finally:
        double.stop()


def test_slack_commands_answer_metrics_forecasts_and_bad_input_in_words(prom: realservices.Process, store: Store,
                                                                        tmp_path: Path) -> None:
    """`/triops metrics` and `/triops forecast` through signed requests into the real Bolt app,
    reading the real Prometheus; every bad input is a sentence, never a traceback."""
    from bot.runtime import Runtime
    from bot.slack.app import APOLOGY
    from tests.slack_harness import SlackHarness

    _deploy(store)
    clock = lambda: datetime.fromtimestamp(END, UTC)  # noqa: E731
    rt = Runtime.build(Settings(_env_file=None, home=tmp_path, database_url=None, prometheus_url=prom.url),
                       store=store, catalog=CATALOG, clock=clock)
    h = SlackHarness.start(rt)
    try:
        def ask(text: str) -> str:
            resp, name = h.command(text)
            assert resp.status_code == 200
            said = str(h.response(name, timeout=60)["text"])
            assert "Traceback" not in said and APOLOGY.split("(")[0] not in said, said
            print(f"/triops {text}\n{said}\n")  # shown with -s: what a user reads
            return said

        said = ask("metrics payments 1d")
        assert "error rate of payments rose" in said and "× at " in said and "after deploy payments-1042" in said
        said = ask("forecast disk 2d")
        assert "/data on node-3 full in ~" in said and "at the current trend" in said
        low, high = re.search(r"80 % interval ([\d.]+)–([\d.]+) h", said).groups()  # type: ignore[union-attr]
        assert float(low) < float(high)  # a tight interval still reads as an interval
        said = ask("forecast triops_test_gappy")  # NaN, +Inf and a 6-hour gap in the history
        assert "node-9 full in ~7.56 h" in said and "step" not in said  # the gap is no level step
        assert "bad PromQL" in ask("forecast rate(foo[5m]")
        assert "no series for 'no_such_metric'" in ask("forecast no_such_metric")
        assert "longer than five years" in ask("forecast disk 10y")
        assert "too wide" in ask("forecast disk 4y")
        assert "not a valid service name" in ask('metrics pay"ments')
    finally:
        h.stop()
    down = Runtime.build(Settings(_env_file=None, home=tmp_path / "down", database_url=None,
                                  prometheus_url=f"http://127.0.0.1:{realservices.free_port()}"),
                         store=store, catalog=CATALOG, clock=clock)
    h = SlackHarness.start(down)
    try:
        _, name = h.command("metrics payments")
        said = str(h.response(name, timeout=60)["text"])
        assert "unreachable" in said and "Traceback" not in said
    finally:
        h.stop()
