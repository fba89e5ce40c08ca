"""4xx never 5xx over real HTTP: auth headers, tokens never in URLs or logs, the body limit,
and a 4xx that keeps the keep-alive connection usable (a 500 made uvicorn drop it)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests import realservices
from tests.slack_harness import SlackHarness
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import Store

ALERT = {"name": "HighErrorRate", "service": "checkout", "starts_at": "2026-11-20T10:00:00Z"}


def serving(app: FastAPI) -> AbstractContextManager[str]:
    return realservices.serving(app, log_level="info")  # the access log is under test


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog())


def test_a_4xx_keeps_the_keep_alive_connection_and_the_token_never_reaches_the_access_log(
        rt: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    rt.settings.webhook_token = SecretStr("s3cr3t-token")
    sockets: set[int] = set()
    access: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            access.append(record.getMessage())

    app = create_app(Router(rt))
    keep = Keep()
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        logging.getLogger("uvicorn.access").addHandler(keep)
        def send(body: str, **kw: object) -> httpx.Response:
            r = http.post("/hooks/alerts", content=body, headers={"Content-Type": "application/json",
                          "Authorization": "Bearer s3cr3t-token"}, **kw)  # type: ignore[arg-type]
            stream = r.extensions.get("network_stream")
            sockets.add(id(stream.get_extra_info("socket")) if stream else 0)
            return r
        statuses = []
        for bad in ["[" * 1000 + "]" * 1000, '{"n": ' + "9" * 5000 + "}", '"\\ud800"', "{bad",
                    json.dumps({**ALERT, "starts_at": "9999-12-31T23:59:59.999999Z"})]:
            statuses.append(send(bad).status_code)
            assert send(json.dumps(ALERT)).status_code == 202  # the same connection still works
        assert statuses == [400, 400, 400, 400, 422]
        assert len(sockets) == 1, "a 4xx closed the keep-alive connection"
        leaked = http.post("/hooks/alerts?token=s3cr3t-token", json=ALERT)
        assert leaked.status_code == 401 and "header" in leaked.json()["detail"]["error"]
        logging.getLogger("uvicorn.access").removeHandler(keep)
    assert any("token=[redacted]" in line for line in access), access
    assert "s3cr3t-token" not in caplog.text + "\n".join(access)


def test_a_body_over_the_limit_is_a_413_over_http(rt: Runtime) -> None:
    rt.settings.max_body_bytes = 64 * 1024
    with serving(create_app(Router(rt))) as base:
        big = b'{"name": "' + b"x" * 200_000 + b'"}'
        r = httpx.post(base + "/hooks/alerts", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            for _ in range(20):
                yield b"x" * 10_000
        r = httpx.post(base + "/hooks/alerts", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert httpx.post(base + "/hooks/alerts", json=ALERT).status_code == 202


def test_non_numeric_slack_timestamp_is_a_401_not_a_500(rt: Runtime) -> None:
    harness = SlackHarness.start(rt)
    try:
        for stamp in ["abc", "", "1e9", "-5", "12 34"]:
            r = harness.http.post("/slack/events", content="command=/triops&text=help",
                                  headers={"Content-Type": "application/x-www-form-urlencoded",
                                           "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=00"})
            assert r.status_code == 401, (stamp, r.status_code)
    finally:
        harness.stop()


def test_a_signed_github_delivery_needs_no_second_secret(rt: Runtime) -> None:
    rt.settings.webhook_token = SecretStr("shared-token")
    rt.settings.github_webhook_secret = SecretStr("gh-secret")
    body = json.dumps({"zen": "ping"}).encode()
    sig = "sha256=" + hmac.new(b"gh-secret", body, hashlib.sha256).hexdigest()
    with TestClient(create_app(Router(rt))) as http:
        ok = http.post("/hooks/github", content=body, headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": sig,
                                                               "Content-Type": "application/json"})
        assert ok.status_code < 300, ok.text
        forged = http.post("/hooks/github", content=body, headers={"X-GitHub-Event": "ping",
                           "X-Hub-Signature-256": "sha256=" + "0" * 64, "Content-Type": "application/json"})
        assert forged.status_code == 401
        assert http.post("/hooks/deployments", json={}).status_code == 401  # unsigned routes still need the token


def test_healthz_is_liveness_and_readiness_names_the_database_when_it_is_down(tmp_path: Path) -> None:
    down = Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=1", create=False)
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog(), store=down)
    with TestClient(create_app(Router(rt))) as http:
        live = http.get("/healthz")
        assert live.status_code == 200 and live.json()["live"] is True
        for path in ("/readyz", "/healthz?ready=1"):
            ready = http.get(path)
            assert ready.status_code == 503 and ready.json()["down"] == ["database"], ready.text
