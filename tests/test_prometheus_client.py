"""The Prometheus client against a real Prometheus 2.x whose TSDB the test fills (promtool):
a deploy-caused error spike, a disk filling up, a quiet control; plus every bad input."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from tests import realservices
from tools.errors import NoDataError, ToolError
from tools.metrics.anomaly import score_series
from tools.metrics.prometheus import PrometheusClient, choose_step

STEP = 60
END = (int(time.time()) // 3600 - 3) * 3600  # whole hour, safely in the past (blocks are immutable)
START = END - 2 * 86400
DEPLOY_AT = END - 6 * 3600
SPIKE_AT = DEPLOY_AT + 3 * 60
DISK_SIZE = 1e12


def _openmetrics() -> str:
    rng = np.random.default_rng(13)
    lines = ["# TYPE triops_test_errors_ratio gauge", "# TYPE triops_test_quiet gauge",
             "# TYPE node_filesystem_avail_bytes gauge"]
    body: list[str] = []
    for t in range(START, END + 1, STEP):
        err = 0.002 + abs(rng.normal(0, 0.0003)) + (0.028 if t >= SPIKE_AT else 0.0)
        body.append(f'triops_test_errors_ratio{{service="payments"}} {err:.6f} {t}')
        body.append(f'triops_test_quiet{{service="search"}} {5 + rng.normal(0, 0.1):.4f} {t}')
        avail = DISK_SIZE * 0.5 - (t - START) * 2e6 + rng.normal(0, 1e8)  # ~2 MB/s used
        body.append(f'node_filesystem_avail_bytes{{instance="node-3",mountpoint="/data"}} {avail:.0f} {t}')
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
    work = tmp_path_factory.mktemp("prom")
    om = work / "series.om"
    om.write_text(_openmetrics())
    realservices.create_blocks_from_openmetrics(om, work / "tsdb")
    with realservices.prometheus(work, tsdb=work / "tsdb") as p:
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
        with pytest.raises(ToolError, match="bad PromQL"):
            client.query_range("rate(foo[5m]", START, END)
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
            pytest.raises(ToolError, match="unreachable"):
        dead.query("up")
    assert time.monotonic() - t0 < 5
    with pytest.raises(ToolError, match="http"):
        PrometheusClient("ftp://x")


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
