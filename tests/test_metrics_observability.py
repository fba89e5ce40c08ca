"""The bot's own /metrics: counted through the real tool wrapper, served by the real FastAPI app
(bot.web.create_app + mount_metrics) under uvicorn, scraped by a real Prometheus."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.observability import BotMetrics
from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests import realservices
from tools.catalog import ServiceCatalog
from tools.metrics.prometheus import PrometheusClient
from tools.result import ToolResult
from tools.settings import Settings


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Runtime, BotMetrics]]:
    metrics = BotMetrics()  # this app's own registry: counts from other tests never leak in
    rt = Runtime.build(Settings(_env_file=None, home=tmp_path, database_url=None), catalog=ServiceCatalog(),
                       metrics=metrics)
    app = create_app(Router(rt))  # serves rt.metrics at /metrics
    metrics.watch_queue("incident_updates", lambda: 3)
    metrics.watch_incidents(lambda: 2)
    with realservices.serving(app) as base:
        yield base.removeprefix("http://"), rt, metrics


def test_real_prometheus_scrapes_the_bots_metrics(served: tuple[str, Runtime, BotMetrics], tmp_path: Path) -> None:
    target, rt, metrics = served
    for _ in range(3):
        assert rt.run("assistant_usage", {"days": 7}).status == "ok"
    assert rt.run("assistant_usage", {"days": 0}).status == "error"  # a bad argument is counted too
    metrics.request("slack", "slash_command")
    metrics.ack("slack")
    metrics.llm_usage("gpt-test", 120, 30, cost_usd=0.002)
    body = httpx.get(f"http://{target}/metrics", timeout=5).text
    assert 'triops_tool_calls_total{status="ok",tool="assistant_usage"} 3.0' in body
    assert "triops_queue_depth{queue=\"incident_updates\"} 3.0" in body
    config = ("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: triops\n"
              f"    static_configs:\n      - targets: ['{target}']\n")
    with realservices.prometheus(tmp_path / "prom", config) as prom, PrometheusClient(prom.url) as client:
        deadline = time.monotonic() + 30
        got: dict[str, float] = {}
        while time.monotonic() < deadline and len(got) < 5:
            for name, q in {
                "ok_calls": 'triops_tool_calls_total{tool="assistant_usage",status="ok"}',
                "error_calls": 'triops_tool_calls_total{tool="assistant_usage",status="error"}',
                "latency_count": 'triops_tool_latency_seconds_count{tool="assistant_usage"}',
                "tokens": 'sum(triops_llm_tokens_total{model="gpt-test"})',
                "incidents": "triops_incidents_open",
            }.items():
                res = client.query(q)
                if res:
                    got[name] = res[0][1]
            time.sleep(0.5)
    assert got == {"ok_calls": 3.0, "error_calls": 1.0, "latency_count": 4.0, "tokens": 150.0, "incidents": 2.0}


def test_the_hook_chains_the_previous_callback_even_when_metrics_fail() -> None:
    seen: list[str] = []
    metrics = BotMetrics()
    hook = metrics.tool_hook(lambda result, actor: seen.append(f"{result.tool}:{actor}"))
    hook(ToolResult(tool="t", status="ok", ms=12.0), "U1")
    hook(ToolResult(tool="t", status="ok", ms=float("nan")), "U2")
    assert seen == ["t:U1", "t:U2"]
    assert b'triops_tool_calls_total{status="ok",tool="t"} 2.0' in metrics.render()
