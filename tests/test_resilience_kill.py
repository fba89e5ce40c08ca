"""0 loss under kill -9: every alert acknowledged (202) by `triops serve` is in the store
after the process is killed mid-burst, with group commit on (concurrent clients)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.realservices import free_port
from tests.stores import postgres_url
from tools.store import Store
from tools.store import alerts as s


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_no_acknowledged_alert_is_lost_when_serve_is_killed_mid_burst(kind: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIOPS_", "SLACK_", "OPENAI_"))}
    port = free_port()
    env.update(TRIOPS_HOME=str(tmp_path), TRIOPS_PORT=str(port), PYTHONPATH=str(Path(__file__).parent.parent))
    if kind == "postgresql":
        base_url = postgres_url()
        if not base_url:
            pytest.skip("TRIOPS_TEST_DATABASE_URL is not set")
        import uuid

        from sqlalchemy import create_engine, text
        schema = f"k_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
        env["TRIOPS_DATABASE_URL"] = url
    else:
        url = f"sqlite:///{tmp_path / 'triops.db'}"
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        now = datetime.now(UTC)
        http = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=12))
        acked: list[str] = []
        lock = threading.Lock()

        def send(i: int) -> None:
            body = [{"name": f"A{j % 7}", "service": f"svc-{j % 9}", "fingerprint": f"k{j}",
                     "starts_at": (now - timedelta(seconds=3000 - j)).isoformat()} for j in range(i * 5, i * 5 + 5)]
            try:
                r = http.post(base + "/hooks/alerts", content=json.dumps(body),
                              headers={"Content-Type": "application/json"})
            except httpx.TransportError:
                return  # not acknowledged: the sender would retry
            assert r.status_code == 202, r.text
            if r.status_code == 202:
                with lock:
                    acked.extend(r.json()["alert_ids"])

        send(0)  # warm: the first request imports the parsers and restores the pipeline
        assert acked, "the warm-up request was not acknowledged"
        killer = threading.Timer(1.0, lambda: os.kill(proc.pid, signal.SIGKILL))
        killer.start()
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(send, range(1, 400)))
        killer.join()
        proc.wait(10)
        http.close()
        assert len(acked) > 5, "nothing was acknowledged in the burst before the kill"
        assert proc.returncode == -signal.SIGKILL, "the burst ended before the kill: make it longer"
        store = Store.open(url, create=False)
        try:
            with store.engine.connect() as conn:
                stored = set(conn.execute(select(s.alerts.c.id)).scalars())
        finally:
            store.close()
        lost = set(acked) - stored
        assert not lost, f"{len(lost)} of {len(acked)} acknowledged alerts lost"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if kind == "postgresql":
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
