"""4xx never 5xx: every route, on SQLite and PostgreSQL, fed hostile and fuzzed bodies.

The cases of the attack report come first (each reproduced a 500 before), then hypothesis
mutates valid payloads of every route (hostile leaves: far dates, huge numbers, NaN, NUL,
lone surrogates, over-long strings, deep nesting) and asserts no response is a 5xx.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests.stores import open_test_store
from tools.scenario.topology import catalog
from tools.settings import Settings

FIX = Path(__file__).parent / "fixtures" / "alerts"
JSON = {"Content-Type": "application/json"}

VALID: dict[str, Any] = {
    "/hooks/alertmanager": json.loads((FIX / "alertmanager.json").read_text()),
    "/hooks/grafana": json.loads((FIX / "grafana.json").read_text()),
    "/hooks/pagerduty": json.loads((FIX / "pagerduty.json").read_text()),
    "/hooks/opsgenie": json.loads((FIX / "opsgenie.json").read_text()),
    "/hooks/alerts": {"name": "HighErrorRate", "service": "checkout", "starts_at": "2026-11-20T10:00:00Z",
                      "severity": "critical", "labels": {"env": "prod"}},
    "/hooks/deployments": {"id": "d1", "service": "checkout", "environment": "prod", "status": "success",
                           "started_at": "2026-11-01T10:00:00Z", "finished_at": "2026-11-01T10:10:00Z",
                           "kind": "normal", "commits": [{"sha": "abc123", "committed_at": "2026-11-01T06:00:00Z"}]},
    "/hooks/incidents": {"id": "i1", "service": "checkout", "opened_at": "2026-11-01T09:00:00Z",
                         "resolved_at": "2026-11-01T10:00:00Z"},
    "/hooks/github": {"action": "completed", "deployment_status": {"state": "success", "environment": "prod",
                      "created_at": "2026-11-01T10:00:00Z"}, "deployment": {"id": 1, "sha": "abc",
                      "created_at": "2026-11-01T09:50:00Z", "environment": "prod"}, "repository": {"name": "checkout"}},
    "/hooks/models": {"name": "churn", "version": "3", "service": "checkout", "stage": "production"},
    "/hooks/models/churn/windows/live": [{"latency": 0.1, "amount": 3.0}, {"latency": 0.2, "amount": 4.0}],
}
ROUTES = sorted(VALID)
HEADERS = {"/hooks/github": {"X-GitHub-Event": "deployment_status"}}

HOSTILE = st.one_of(
    st.sampled_from([
        "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
        253402300799, -62135596800, 10**20, -(10**20), 1e308, -1e308, "NaN", "Infinity", "-inf", "nan",
        "a\x00b", "x" * 5000, "\U0001f525" * 300, "", " ", None, True, [], {}, [[[[]]]], "2026-13-45T99:99:99Z",
        "2026-11-20T10:00:00+25:00", 0, -1, 1.5, "1e999", "99999999999999999999",
    ]),
    st.text(max_size=300),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _mutate(value: Any, path: list[Any], leaf: Any) -> Any:
    if not path:
        return leaf
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _mutate(value.get(head), rest, leaf)}
    if isinstance(value, list) and isinstance(head, int) and head < len(value):
        return [*value[:head], _mutate(value[head], rest, leaf), *value[head + 1:]]
    return leaf


def _paths(value: Any, prefix: list[Any] | None = None) -> list[list[Any]]:
    prefix = prefix or []
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, [*prefix, k])
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            out += _paths(v, [*prefix, i])
    return out


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def http(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp(request.param)
    for store in open_test_store(request.param, tmp):
        rt = Runtime.build(Settings(TRIOPS_HOME=tmp), catalog=catalog(), store=store)
        with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as client:
            yield client


def _post(http: TestClient, path: str, body: bytes | str, headers: dict | None = None):  # type: ignore[no-untyped-def]
    return http.post(path, content=body, headers={**JSON, **HEADERS.get(path, {}), **(headers or {})})


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_accepts_its_valid_payload(http, path) -> None:  # type: ignore[no-untyped-def]
    r = _post(http, path, json.dumps(VALID[path]))
    assert r.status_code < 300, r.text


REPORTED = [  # (label, raw body, expected status)
    ("nested 1,000 levels", "[" * 1000 + "]" * 1000, 400),
    ("nested 101 levels", "[" * 101 + "]" * 101, 400),
    ("nested 100,000 levels", "[" * 100_000 + "]" * 100_000, 400),
    ("integer of 5,000 digits", '{"alerts": [' + "1" * 5000 + "]}", 400),
    ("lone surrogate", '{"name": "\\ud800", "service": "a", "starts_at": "2026-11-20T10:00:00Z"}', 400),
    ("invalid UTF-8", b'{"name": "\xff\xfe", "service": "a"}', 400),
    ("NaN literal", '{"name": "X", "service": "a", "starts_at": NaN}', 400),
    ("Infinity literal", '[{"latency": Infinity}]', 400),
    ("NUL character", '{"name": "X\\u0000", "service": "a", "starts_at": "2026-11-20T10:00:00Z"}', 400),
]


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize("label,body,status", REPORTED, ids=[r[0] for r in REPORTED])
def test_reported_bodies_are_a_4xx_on_every_route(http, path, label, body, status) -> None:  # type: ignore[no-untyped-def]
    r = _post(http, path, body)
    assert r.status_code == status, (label, r.status_code, r.text[:300])
    assert "error" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/hooks/alerts", "/hooks/models"])
def test_over_long_strings_and_nan_strings_are_4xx_or_clipped(http, path) -> None:  # type: ignore[no-untyped-def]
    for field in ("service", "name", "team", "environment"):
        r = _post(http, path, json.dumps({**VALID[path], field: "s" * 10_000}))
        assert r.status_code < 500, (field, r.text[:300])
    r = _post(http, "/hooks/models/churn/windows/nan", json.dumps([{"latency": "NaN"}, {"latency": 1.0}]))
    assert r.status_code < 500, r.text[:300]


def test_a_body_over_the_limit_is_a_413(http) -> None:  # type: ignore[no-untyped-def]
    limit = http.app.state.runtime.settings.max_body_bytes
    r = _post(http, "/hooks/alerts", b'{"name": "' + b"x" * (limit + 10) + b'"}')
    assert r.status_code == 413 and "TRIOPS_MAX_BODY_BYTES" in r.json()["detail"]["error"]


@pytest.mark.parametrize("path", ROUTES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_payloads_never_5xx(http, path, data) -> None:  # type: ignore[no-untyped-def]
    body: Any = VALID[path]
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(_paths(body)))
        body = _mutate(body, where, data.draw(HOSTILE))
    raw = json.dumps(body, allow_nan=True)
    r = _post(http, path, raw)
    assert r.status_code < 500, (path, raw[:500], r.text[:500])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(ROUTES),
       body=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40)
                         | st.floats(allow_nan=True, allow_infinity=True),
                         lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4),
                         max_leaves=20))
def test_arbitrary_json_never_5xx(http, path, body) -> None:  # type: ignore[no-untyped-def]
    raw = json.dumps(body, allow_nan=True)
    r = _post(http, path, raw)
    assert r.status_code < 500, (path, raw[:500], r.text[:500])
    if isinstance(body, float) and not math.isfinite(body):
        assert r.status_code == 400
