"""`triops serve` as a real process on loopback, pointed at the Slack Web API double."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from tests.realservices import free_port
from tests.slack_double import SlackDouble, sign

SECRET = "serve-test-secret"
NOW = "2026-11-20T00:00:00+00:00"




@dataclass
class Served:
    base: str
    double: SlackDouble
    proc: subprocess.Popen
    lines: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, line)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def read_output(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))
                self._cond.notify_all()

    def wait_line(self, needle: str, timeout: float = 60.0) -> float:
        """When the server printed a line containing `needle` (it waits for it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, line in self.lines:
                    if needle in line:
                        return at
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no {needle!r} in the server's output:\n{self.output()}")
                self._cond.wait(min(left, 0.5))

    def output(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _env(tmp_path: Path, double: SlackDouble, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "TRIOPS_HOME": str(tmp_path),
        "SLACK_API_URL": double.base_url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    for k in ("SLACK_APP_TOKEN", "TRIOPS_DATABASE_URL", "TRIOPS_WEBHOOK_TOKEN", "TRIOPS_API_DOCS", "OPENAI_API_KEY",
              "OPENAI_BASE_URL", "TRIOPS_EMBEDDINGS", "TRIOPS_INCIDENT_CHANNEL", "TRIOPS_AUTO_TRIAGE"):
        env.pop(k, None)
    env.update(extra)
    return env


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """launch(demo=…, **env) -> a running `triops serve` (healthz answered)."""
    started: list[Served] = []

    def start(*, demo: bool = True, **extra: str) -> Served:
        double = SlackDouble().start()
        port = free_port()
        if demo:
            subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--now", NOW],
                           env=_env(tmp_path, double, port), check=True, capture_output=True)
            extra = {"TRIOPS_HOME": str(tmp_path / "demo"), **extra}  # serve the demo's own store
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=_env(tmp_path, double, port, **extra),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        served = Served(f"http://127.0.0.1:{port}", double, proc)
        started.append(served)
        threading.Thread(target=served.read_output, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(served.base + "/healthz", timeout=1).status_code == 200:
                    return served
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("server did not start:\n" + served.output())

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.terminate()
            s.proc.wait(timeout=30)
        s.double.stop()


def _slash(served: Served, text: str, name: str) -> httpx.Response:
    form = urlencode({
        "command": "/triops", "text": text, "user_id": "U1", "channel_id": "C1",
        "team_id": "T1", "response_url": served.double.response_url(name), "trigger_id": "1", "api_app_id": "A1",
    })
    return httpx.post(served.base + "/slack/events", content=form,
                      headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, form)})


def test_served_slash_command_posts_to_the_response_url(launch: Callable[..., Served]) -> None:
    served = launch()
    health = httpx.get(served.base + "/healthz").json()
    assert health["ok"] is True and health["database"] == "sqlite" and health["slack"] is True
    assert _slash(served, "dora auth 90d", "served").status_code == 200
    posted = served.double.wait_for("response_url")[0].params
    assert "DORA · service auth · last 90d" in posted["text"]
    form = urlencode({"command": "/triops", "text": "dora", "user_id": "U1", "channel_id": "C1", "team_id": "T1",
                      "response_url": served.double.response_url("bad"), "trigger_id": "1", "api_app_id": "A1"})
    bad = httpx.post(served.base + "/slack/events", content=form,
                     headers={"Content-Type": "application/x-www-form-urlencoded", **sign("wrong", form)})
    assert bad.status_code == 401
    # no token, no docs: said at start, and the API's map is not served
    assert "TRIOPS_WEBHOOK_TOKEN is not set" in served.output()
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(served.base + path).status_code == 404


class HeldEmbeddings:
    """An OpenAI-compatible /v1/embeddings endpoint that holds every request until released,
    so the server's runbook-index warm-up is provably still running while the test acts."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                held.asked.set()
                held.release.wait(60)
                data = [{"index": i, "object": "embedding", "embedding": _vector(t)} for i, t in enumerate(body.get("input", []))]
                out = json.dumps({"object": "list", "data": data, "model": body.get("model")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 - 0.5 for b in digest[:16]]


def test_healthz_answers_at_once_and_a_command_is_answered_while_warming(launch: Callable[..., Served]) -> None:
    embeddings = HeldEmbeddings()
    try:
        served = launch(TRIOPS_EMBEDDINGS="openai", OPENAI_BASE_URL=embeddings.base_url, OPENAI_API_KEY="sk-test-0000")
        served.wait_line("GET /healthz HTTP/1.1\" 200")  # answered while the index warms (below)
        assert embeddings.asked.wait(60), "the warm-up never asked for embeddings"
        # the runbook index is still warming (its embeddings are held): the server answers anyway
        assert httpx.get(served.base + "/healthz", timeout=2).status_code == 200
        assert _slash(served, "dora auth 90d", "warming").status_code == 200
        posted = served.double.wait_for("response_url", timeout=30)[0].params
        assert "DORA · service auth · last 90d" in posted["text"]
        assert "runbook index ready" not in served.output()
        embeddings.release.set()
        served.wait_line("runbook index ready")
    finally:
        embeddings.stop()


def test_sigterm_posts_the_queued_incident_updates_before_exit(launch: Callable[..., Served]) -> None:
    served = launch(demo=False, TRIOPS_INCIDENT_CHANNEL="CINC", TRIOPS_INCIDENT_UPDATE_INTERVAL="3600",
                    TRIOPS_WEBHOOK_TOKEN="hook-token")
    assert "TRIOPS_WEBHOOK_TOKEN is not set" not in served.output()
    auth = {"Authorization": "Bearer hook-token"}
    assert httpx.post(served.base + "/hooks/alerts", json=[{"name": "A"}]).status_code == 401
    first = httpx.post(served.base + "/hooks/alerts", headers=auth, json=[
        {"name": "PostgresDown", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"}])
    assert first.status_code == 202, first.text
    (told,) = [c for c in served.double.wait_for("chat.postMessage", 2, timeout=60) if c.params.get("thread_ts")]
    card_ts = told.params["thread_ts"]  # "Alerts in this incident:" went to the card's thread
    joined = httpx.post(served.base + "/hooks/alerts", headers=auth, json=[
        {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z"}])
    assert joined.json()["incidents"] == first.json()["incidents"]
    # the card's update waits for TRIOPS_INCIDENT_UPDATE_INTERVAL (an hour): nothing sent yet
    assert served.double.of("chat.update") == []

    served.proc.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal: exit status -SIGTERM
    assert served.proc.wait(timeout=30) in (0, -signal.SIGTERM), served.output()
    served.wait_line("Application shutdown complete")
    (update,) = served.double.of("chat.update")
    assert update.params["channel"] == "CINC" and update.params["ts"] == card_ts
    assert "2 alerts on payments" in update.params["text"]
    assert any(c.params.get("thread_ts") == card_ts and "1 more alert joined" in c.params["text"]
               for c in served.double.of("chat.postMessage"))
    out = served.output()
    assert "stopped incident-notifier" in out and "not posted" not in out
