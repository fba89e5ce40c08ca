"""Schemathesis over the app's own OpenAPI: every operation, on SQLite and PostgreSQL, over
real HTTP on one keep-alive connection. No answer is a 5xx, and after a 4xx the same
connection still serves (/healthz on it answers; the server never asked to close it).

The routes read their bodies raw (each source parses its own payload), so the spec FastAPI
derives has no request bodies; the copy fuzzed here declares what the routes accept: any
JSON on every hook, form or JSON on /slack/events, and the headers the routes read (Slack's
signature and timestamp, the senders' signatures, the webhook token), so generated requests
reach signature checks, timestamp parsing and the parsers. /metrics is served outside the
spec and is added to it. Well-formed payloads of every route are fuzzed by
tests/test_fuzz_hooks.py; correctly signed Slack garbage by the last test here.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.router import Router
from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.web import create_app
from tests.realservices import serving
from tests.slack_double import SlackDouble, sign
from tests.slack_harness import SECRET, authorize
from tests.stores import open_test_store
from tools.alerts.sources import ALERT_SOURCES
from tools.delivery.sources import CHANGE_SOURCES
from tools.scenario.topology import catalog
from tools.settings import Settings

HOOK_HEADERS = ["Authorization", "X-Triops-Token", "X-Hub-Signature-256", "X-GitHub-Event",
                "X-PagerDuty-Signature", "X-Gitlab-Token", "X-Gitlab-Event", "X-Grafana-Signature"]
SLACK_HEADERS = ["X-Slack-Request-Timestamp", "X-Slack-Signature", "X-Slack-Retry-Num"]


def _header_params(names: list[str]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "header", "required": False, "schema": {"type": "string"}} for n in names]


def fuzz_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The app's spec plus what its raw-body routes accept (see the module docstring)."""
    spec = copy.deepcopy(spec)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method not in ("post", "put"):
                continue
            if path.startswith("/hooks"):
                op["requestBody"] = {"required": False, "content": {"application/json": {"schema": {}}}}
                op["parameters"] = [*op.get("parameters", []), *_header_params(HOOK_HEADERS)]
                for param in op["parameters"]:  # every registered source (negative cases: others)
                    if param.get("name") == "source" and param.get("in") == "path":
                        param["schema"] = {"type": "string", "enum": sorted({*ALERT_SOURCES, *CHANGE_SOURCES})}
            elif path == "/slack/events":
                op["requestBody"] = {"required": False, "content": {
                    "application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "additionalProperties": {"type": "string"},
                        "properties": {"command": {"type": "string"}, "text": {"type": "string"},
                                       "payload": {"type": "string"}, "ssl_check": {"type": "string"}}}},
                    "application/json": {"schema": {}}}}
                op["parameters"] = [*op.get("parameters", []), *_header_params(SLACK_HEADERS)]
    spec["paths"]["/metrics"] = {"get": {"operationId": "metrics", "responses": {"200": {"description": "metrics"}}}}
    return spec


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp(request.param)
    slack = SlackDouble().start()
    try:
        for store in open_test_store(request.param, tmp):
            settings_ = Settings(TRIOPS_HOME=tmp)
            settings_.slack_api_url = slack.base_url
            settings_.slack_signing_secret = SecretStr(SECRET)
            rt = Runtime.build(settings_, catalog=catalog(), store=store)
            router = Router(rt)
            app = create_app(router, build_app(router, authorize=authorize))
            with serving(app) as base:
                yield base, app
    finally:
        slack.stop()


@pytest.fixture(scope="module")
def session(served: tuple[str, Any]) -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _strategy(operation: Any) -> Any:
    """Valid and (where the spec allows saying what is invalid) invalid requests."""
    from schemathesis.generation import GenerationMode

    out = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # an operation whose every input is valid has no negative cases
        out.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.one_of(out)


def test_no_operation_answers_5xx_and_a_4xx_keeps_the_connection(served: tuple[str, Any],
                                                                 session: requests.Session) -> None:
    base, app = served
    schema = schemathesis.openapi.from_dict(fuzz_spec(app.openapi()))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 17, [o.label for o in operations]  # every route, POST and PUT
    seen: dict[str, set[int]] = {}

    def fuzz_one(label: str, strategy: Any) -> None:
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def fuzz(case: Any) -> None:
            r = case.call(base_url=base, session=session, timeout=30)
            seen.setdefault(label, set()).add(r.status_code)
            assert r.status_code < 500, (label, case.formatted_path, r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert r.headers.get("connection", "").lower() != "close", (label, r.status_code)
                assert session.get(base + "/healthz", timeout=10).status_code == 200

        fuzz()

    for operation in operations:
        fuzz_one(operation.label, _strategy(operation))
    assert set(seen) == {o.label for o in operations}
    assert any(code == 401 for code in seen["POST /slack/events"]), seen["POST /slack/events"]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "response_url", "payload",
                                     "type", "ssl_check", "trigger_id", "team_id"]),
                    st.text(max_size=60), max_size=6).map(lambda d: ("application/x-www-form-urlencoded", urlencode(d))),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                 lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                     st.sampled_from(["type", "event", "event_id", "challenge", "text", "user", "channel",
                                      "actions", "team_id", "authorizations"]), kids, max_size=5),
                 max_leaves=15).map(lambda v: ("application/json", json.dumps(v))),
    st.binary(max_size=200).map(lambda b: ("application/json", b.decode("latin-1"))),
))
def test_correctly_signed_slack_garbage_is_never_a_5xx(served: tuple[str, Any], body: tuple[str, str]) -> None:
    """Past the signature check: Bolt's parsing and our listeners on nonsense bodies."""
    base = served[0]
    content_type, raw = body
    r = httpx.post(base + "/slack/events", content=raw.encode(),
                   headers={"Content-Type": content_type, **sign(SECRET, raw, int(time.time()))}, timeout=30)
    assert r.status_code < 500, (raw[:300], r.status_code, r.text[:300])
