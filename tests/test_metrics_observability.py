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
        while time.monotonic() < deadline and len(got) < 6:
            for name, q in {
                "ok_calls": 'triops_tool_calls_total{tool="assistant_usage",status="ok"}',
                "error_calls": 'triops_tool_calls_total{tool="assistant_usage",status="error"}',
                "latency_count": 'triops_tool_latency_seconds_count{tool="assistant_usage"}',
                "tokens": 'sum(triops_llm_tokens_total{model="gpt-test"})',
                "incidents": "triops_incidents_open",
                "scrapes": 'triops_http_requests_total{route="/metrics",status="2xx"}',  # its own scrapes
            }.items():
                res = client.query(q)
                if res:
                    got[name] = res[0][1]
            time.sleep(0.5)
    assert got.pop("scrapes") >= 1
    assert got == {"ok_calls": 3.0, "error_calls": 1.0, "latency_count": 4.0, "tokens": 150.0, "incidents": 2.0}


def test_the_hook_chains_the_previous_callback_even_when_metrics_fail() -> None:
    seen: list[str] = []
    metrics = BotMetrics()
    hook = metrics.tool_hook(lambda result, actor: seen.append(f"{result.tool}:{actor}"))
    hook(ToolResult(tool="t", status="ok", ms=12.0), "U1")
    hook(ToolResult(tool="t", status="ok", ms=float("nan")), "U2")
    assert seen == ["t:U1", "t:U2"]
    assert b'triops_tool_calls_total{status="ok",tool="t"} 2.0' in metrics.render()


def _value(body: str, sample: str) -> float:
    """The value of one exposition line (labels in the exposition's sorted order)."""
    for line in body.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in /metrics:\n" + "\n".join(
        x for x in body.splitlines() if x.startswith("triops_")))


def test_surfaces_count_requests_acks_llm_usage_and_incidents(tmp_path: Path) -> None:
    """Signed requests into the real Bolt app (mention answered by the LLM through the
    OpenAI-compatible double, a slash command, a forged request), then /metrics of that app."""
    from bot.agent import eval_world
    from bot.agent.slack import agent_extension
    from bot.agent.surface import make_router
    from tests.agent.openai_double import OpenAIDouble, completion
    from tests.slack_harness import SlackHarness
    from tools.store import Store

    metrics = BotMetrics()
    store = Store.open(f"sqlite:///{tmp_path / 'triops.db'}")
    eval_world.seed(store)  # holds one open incident (the search-d0 storm)
    with OpenAIDouble() as llm:
        settings = Settings(_env_file=None, TRIOPS_HOME=str(tmp_path), OPENAI_API_KEY="sk-test-not-a-real-key-000000",
                            OPENAI_BASE_URL=llm.base_url, TRIOPS_LLM_MODEL="gpt-4o-mini")
        rt = Runtime.build(settings, store=store, catalog=eval_world.catalog(), clock=lambda: eval_world.NOW,
                           metrics=metrics)
        llm.push(completion(tool_calls=[("dora_metrics", {"scope": "checkout", "window": "30d"})],
                            prompt_tokens=812, completion_tokens=25))
        llm.push(completion(content="Checkout shipped 10 deployments in the last 30 days; 20% failed "
                                    "[dora_metrics].", prompt_tokens=1900, completion_tokens=40))
        h = SlackHarness.start(rt, router=make_router(rt), extensions=[agent_extension])
        try:
            ev = {"type": "app_mention", "user": "U1", "text": "<@UBOT> how did checkout ship in the last 30 days?",
                  "ts": "100.1", "channel": "C1", "event_ts": "100.1"}
            assert h.event(ev).status_code == 200
            (update,) = h.double.wait_for("chat.update")
            assert "Checkout shipped 10 deployments" in update.params["text"]
            resp, name = h.command("help")
            assert resp.status_code == 200
            h.response(name)
            assert h.post("x=1", "application/x-www-form-urlencoded", secret="wrong").status_code == 401
            body = h.http.get("/metrics").text
        finally:
            h.stop()
    store.close()
    assert _value(body, 'triops_requests_total{kind="event",surface="slack"}') == 1
    assert _value(body, 'triops_requests_total{kind="command",surface="slack"}') == 1
    assert _value(body, 'triops_acks_total{surface="slack"}') == 2  # the forged request is no ack
    assert _value(body, 'triops_ack_latency_seconds_count{surface="slack"}') == 2
    assert _value(body, 'triops_llm_tokens_total{kind="prompt",model="gpt-4o-mini"}') == 812 + 1900
    assert _value(body, 'triops_llm_tokens_total{kind="completion",model="gpt-4o-mini"}') == 65
    assert _value(body, 'triops_llm_cost_usd_total{model="gpt-4o-mini"}') > 0
    assert _value(body, 'triops_tool_calls_total{status="ok",tool="dora_metrics"}') >= 1
    assert _value(body, 'triops_http_requests_total{route="/slack/events",status="2xx"}') == 2
    assert _value(body, 'triops_http_requests_total{route="/slack/events",status="4xx"}') == 1
    assert _value(body, "triops_incidents_open") == 1


def test_queue_depths_are_read_from_the_workers_at_scrape_time() -> None:
    import threading

    from bot.slack.app import AnswerPool

    metrics = BotMetrics()
    pool = AnswerPool(workers=1, queue=3)
    metrics.watch_workers([pool, object()])  # a worker without depth() is skipped
    release = threading.Event()

    def blocked() -> None:
        release.wait(30)

    try:
        for _ in range(3):
            assert pool.submit(blocked, on_busy=lambda: None)
        assert b'triops_queue_depth{queue="slack-answers"} 2.0' in metrics.render()  # 1 running, 2 waiting
    finally:
        release.set()
        pool.stop(time.monotonic() + 5)
    assert b'triops_queue_depth{queue="slack-answers"} 0.0' in metrics.render()
