"""The alert webhooks' direct ASGI lane (bot/hooks/lane.py) answers exactly as the routed
FastAPI path does: the same statuses and bodies for good, bad, unauthenticated and oversized
requests, the same request metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.observability import BotMetrics
from bot.router import Router
from bot.runtime import Runtime
from bot.web import TriopsAPI, create_app
from tests.stores import open_test_store
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import Store

TOKEN = {"Authorization": "Bearer lane-token", "Content-Type": "application/json"}
ALERT = '{"name": "HighErrorRate", "service": "checkout", "fingerprint": "fp-1", "starts_at": "2026-11-20T10:00:00Z"}'

# (method, path, body, headers): each must get the same answer through the lane and the router
REQUESTS: list[tuple[str, str, str | bytes, dict[str, str]]] = [
    ("POST", "/hooks/alerts", ALERT, TOKEN),
    ("POST", "/hooks/alerts", ALERT, TOKEN),  # a retry: updates, the same ids
    ("POST", "/hooks/alerts", "[" + ALERT.replace("fp-1", "fp-2") + "," + ALERT.replace("fp-1", "fp-3") + "]", TOKEN),
    ("POST", "/hooks/alerts", '{"service": "checkout"}', TOKEN),  # 422: no name
    ("POST", "/hooks/alerts", ALERT.replace("2026-11-20", "9999-12-31"), TOKEN),  # 422: time out of range
    ("POST", "/hooks/alerts", '{"name": ', TOKEN),  # 400: not JSON
    ("POST", "/hooks/alerts", b'{"name": "\xff"}', TOKEN),  # 400: not UTF-8
    ("POST", "/hooks/alerts", "[" * 500 + "]" * 500, TOKEN),  # 400: too deep
    ("POST", "/hooks/alerts", ALERT, {"Content-Type": "application/json"}),  # 401: no token
    ("POST", "/hooks/alerts?token=lane-token", ALERT, {"Content-Type": "application/json"}),  # 401: token in URL
    ("POST", "/hooks/alerts", '{"name": "' + "x" * 5000 + '"}', TOKEN),  # 413 (limit 4,096 below)
    ("POST", "/hooks/alertmanager", '{"alerts": "nope"}', TOKEN),
    ("POST", "/hooks/grafana", '{"alerts": []}', TOKEN),
    ("PUT", "/hooks/grafana", '{"alerts": []}', TOKEN),
    ("POST", "/hooks/opsgenie", '{"action": "Create"}', TOKEN),
    ("POST", "/hooks/pagerduty", '{"event": {"event_type": "incident.triggered"}}', TOKEN),
    ("PUT", "/hooks/alertmanager", '{"alerts": []}', TOKEN),  # not a lane route: routed as before
]


@pytest.fixture(params=["sqlite", "postgresql"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _app(kind: str, tmp_path: Path, lane: bool) -> Iterator[tuple[TriopsAPI, Runtime]]:
    tmp_path.mkdir()
    for store in open_test_store(kind, tmp_path):
        settings = Settings(TRIOPS_HOME=tmp_path, TRIOPS_MAX_BODY_BYTES=4096)
        settings.webhook_token = SecretStr("lane-token")
        rt = Runtime.build(settings, catalog=catalog(), store=store, metrics=BotMetrics())  # counts of its own
        app = create_app(Router(rt))
        assert isinstance(app, TriopsAPI)
        if not lane:
            app.lane = None  # every request through FastAPI's middlewares and router
        yield app, rt


def _answers(app: TriopsAPI) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = []
    with TestClient(app) as http:
        for method, path, body, headers in REQUESTS:
            r = http.request(method, path, content=body, headers=headers)
            payload = r.json()
            if isinstance(payload, dict):
                payload.pop("incidents", None)  # incident ids are drawn fresh per store
            out.append((r.status_code, payload))
        metrics = http.get("/metrics").text
    counted = sorted(line for line in metrics.splitlines()
                     if line.startswith("triops_http_requests_total{") and "/hooks/" in line)
    out.append((0, counted))
    return out


def test_the_lane_answers_exactly_as_the_routed_app(kind: str, tmp_path: Path) -> None:
    lane_gen = _app(kind, tmp_path / "lane", lane=True)
    routed_gen = _app(kind, tmp_path / "routed", lane=False)
    (lane_app, _), (routed_app, _) = next(lane_gen), next(routed_gen)
    try:
        assert lane_app.lane is not None
        served = {p for _m, p in lane_app.lane.routes}
        assert served == {"/hooks/alerts", "/hooks/alertmanager", "/hooks/grafana", "/hooks/opsgenie",
                          "/hooks/pagerduty"}
        via_lane, via_router = _answers(lane_app), _answers(routed_app)
    finally:
        for gen in (lane_gen, routed_gen):
            gen.close()
    statuses = [s for s, _ in via_lane[:-1]]
    assert statuses[:11] == [202, 202, 202, 422, 422, 400, 400, 400, 401, 401, 413]
    assert via_lane == via_router
    assert via_lane[0][1]["stored"] == 1 and via_lane[0][1]["alert_ids"] == via_lane[1][1]["alert_ids"]
    assert any('route="/hooks/alerts",status="2xx"} 3.0' in line for line in via_lane[-1][1])


def test_with_the_database_down_the_lane_answers_as_the_routed_app(tmp_path: Path) -> None:
    """An error no handler maps (the store unreachable while building the pipeline) is the
    routed app's own answer on the lane too, not a 4xx in disguise nor a hung request."""
    answers = []
    for lane in (True, False):
        down = Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1", create=False)
        rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog(), store=down)
        app = create_app(Router(rt))
        if not lane:
            app.lane = None  # type: ignore[attr-defined]
        with TestClient(app, raise_server_exceptions=False) as http:
            r = http.post("/hooks/alerts", content=ALERT, headers={"Content-Type": "application/json"})
            answers.append((r.status_code, r.text, r.headers.get("retry-after")))
    assert answers[0] == answers[1]
    assert answers[0][0] >= 500


def test_a_middleware_added_after_the_lane_is_not_bypassed(tmp_path: Path) -> None:
    """The lane reproduces only the middlewares present when it was built; one added later
    (here, one that stamps a header) sends the webhooks back through the routed stack
    (Starlette refuses middlewares once the app has started)."""
    from starlette.middleware.base import BaseHTTPMiddleware

    async def stamp(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-stamped"] = "1"
        return response

    for app, _rt in _app("sqlite", tmp_path / "later", lane=True):
        app.add_middleware(BaseHTTPMiddleware, dispatch=stamp)  # after create_app, before start
        with TestClient(app) as http:
            got = http.post("/hooks/alerts", content=ALERT, headers=TOKEN)
            assert got.status_code == 202 and got.headers.get("x-stamped") == "1"
