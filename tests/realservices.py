"""Real Prometheus and Alertmanager processes for the tests (Debian packages
`prometheus` and `prometheus-alertmanager`, installed by .ci/install-services), each started
on an ephemeral loopback port in a temporary directory and stopped afterwards.

A test that needs one and cannot find the binary is skipped with the reason, never faked.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ALERTMANAGER = "prometheus-alertmanager"  # the Debian package's name for the binary
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


def binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed (run .ci/install-services as root: apt-get install "
                    "prometheus prometheus-alertmanager)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(app: Any, log_level: str = "warning") -> Iterator[str]:
    """An ASGI app (lifespan included) under a real uvicorn on a loopback port, in a thread;
    yields its base URL and stops it afterwards."""
    import threading

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level=log_level))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Process:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def _run(args: list[str], url: str, log: Path) -> Iterator[Process]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, proc, log)
        yield Process(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def alertmanager(workdir: Path, config_yaml: str) -> Iterator[Process]:
    """A real Alertmanager with `config_yaml` (its receivers may point at a loopback URL),
    API v2 at `<url>/api/v2/…`. Clustering is off."""
    exe = binary(ALERTMANAGER)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(config_yaml)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [exe, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=info"]
    with _run(args, url, workdir / "alertmanager.log") as p:
        yield p


@contextmanager
def prometheus(workdir: Path, config_yaml: str = "global:\n  scrape_interval: 15s\n",
               tsdb: Path | None = None, retention: str = "20y") -> Iterator[Process]:
    """A real Prometheus on `tsdb` (default an empty directory), HTTP API at `<url>/api/v1/…`."""
    exe = binary(PROMETHEUS)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(config_yaml)
    data = tsdb or workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [exe, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={data}",
            f"--storage.tsdb.retention.time={retention}", f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle"]
    with _run(args, url, workdir / "prometheus.log") as p:
        yield p


@contextmanager
def prometheus_with_series(workdir: Path, openmetrics: str) -> Iterator[Process]:
    """A real Prometheus whose TSDB holds `openmetrics` (text ending in `# EOF`), loaded by
    promtool before it starts: past series to query, no scraping needed."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "series.om").write_text(openmetrics)
    create_blocks_from_openmetrics(workdir / "series.om", workdir / "tsdb")
    with prometheus(workdir, tsdb=workdir / "tsdb") as p:
        yield p


def create_blocks_from_openmetrics(openmetrics: Path, tsdb: Path) -> None:
    """Fill a TSDB directory from an OpenMetrics text file (`promtool tsdb
    create-blocks-from openmetrics`); the file must end with `# EOF`."""
    exe = binary(PROMTOOL)
    tsdb.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([exe, "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(tsdb)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"promtool failed: {proc.stdout}\n{proc.stderr}")
