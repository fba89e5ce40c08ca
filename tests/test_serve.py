"""`triops serve` as a real process on loopback, pointed at the Slack Web API double."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from urllib.parse import urlencode

import httpx
import pytest

from tests.slack_double import SlackDouble, sign

SECRET = "serve-test-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    double = SlackDouble().start()
    port = _free_port()
    env = {
        **os.environ,
        "TRIOPS_HOME": str(tmp_path),
        "SLACK_API_URL": double.base_url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-serve-test",
        "PORT": str(port),
    }
    env.pop("SLACK_APP_TOKEN", None)
    env.pop("TRIOPS_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "bot.cli", "demo", "--now", "2026-11-20T00:00:00+00:00"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # e.g. the port was taken between our probe and its bind
            break
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError(proc.stdout.read().decode() if proc.stdout else "server did not start")
    yield base, double, proc
    proc.terminate()
    proc.wait(timeout=10)
    double.stop()


def test_served_slash_command_posts_to_the_response_url(server):
    base, double, _ = server
    assert httpx.get(base + "/healthz").json() == {"ok": True, "database": "sqlite", "slack": True}
    form = urlencode({
        "command": "/triops", "text": "dora auth 90d", "user_id": "U1", "channel_id": "C1",
        "team_id": "T1", "response_url": double.response_url("served"), "trigger_id": "1", "api_app_id": "A1",
    })
    resp = httpx.post(base + "/slack/events", content=form, headers={"Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, form)})
    assert resp.status_code == 200
    posted = double.wait_for("response_url")[0].params
    assert "DORA · service auth · last 90d" in posted["text"]
    bad = httpx.post(base + "/slack/events", content=form, headers={"Content-Type": "application/x-www-form-urlencoded", **sign("wrong", form)})
    assert bad.status_code == 401
