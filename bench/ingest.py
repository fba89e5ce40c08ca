"""Alert ingest over real HTTP: `triops serve` on loopback, concurrent clients, bounded.

    PYTHONPATH=$PWD .venv/bin/python bench/ingest.py --baseline 5fca902 \
        --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/triops_s12

For each code tree (this worktree, and `--baseline REF` extracted with `git archive`) and
each store (SQLite; PostgreSQL when --pg-url is given, in a fresh database per run):
  storm   N notifications over 40 services, `--per-request` alerts per POST /hooks/alerts,
          `--clients` concurrent keep-alive clients -> notifications/s and requests/s;
  growth  one service, one incident growing to `--grow` alerts, in 10 chunks -> the rate
          of each chunk and last/first (flat = within ±20 %); started once the server is
          idle after the storm (its new incidents' background work would land in chunk 1).
The clients are lean (asyncio streams, requests encoded before the clock starts) because
they share the 2 cores with the server; they speak HTTP/1.1 keep-alive to the real server,
and every response must be a 202 that reports every alert of its request stored (anything
else is counted and reported as a loss); their CPU per 1,000 notifications is reported too. Measuring
starts once serve's background warm-up (planner, runbook index) is done. Beside the
wall-clock rates, the server process's CPU per 1,000 notifications (/proc): on a machine
shared with other jobs the rates follow the load, the CPU cost much less.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def extract(ref: str, into: Path) -> Path:
    """The tree of `ref` (a commit of this repository) as plain files."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", ref], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


@contextmanager
def pg_database(base_url: str) -> Iterator[str]:
    import sqlalchemy as sa

    name = f"triops_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def serve(tree: Path, home: Path, database_url: str | None) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRIOPS_", "SLACK_", "OPENAI_"))}
    env.update(PYTHONPATH=str(tree), TRIOPS_HOME=str(home), TRIOPS_PORT=str(port), TRIOPS_HOST="127.0.0.1")
    if database_url:
        env["TRIOPS_DATABASE_URL"] = database_url
    log = open(home / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], cwd=tree, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start:\n" + (home / "serve.log").read_text()[-3000:])
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        # serve warms the planner and the runbook index in the background (seconds of CPU):
        # measure ingest after it, not against it
        while time.monotonic() < deadline and b"runbook index ready" not in (home / "serve.log").read_bytes():
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _payloads(n: int, per: int, services: int, tag: str, one_incident: bool = False) -> list[list[dict]]:
    now = datetime.now(UTC)
    alerts = []
    for i in range(n):
        svc = "bench-core" if one_incident else f"svc-{i % services}"
        at = now - timedelta(seconds=(n - i) * (0.02 if one_incident else 0.5))
        alerts.append({"name": f"Alert{i % 17}", "service": svc, "fingerprint": f"{tag}-{i}",
                       "severity": "critical" if i % 5 == 0 else "warning",
                       "starts_at": at.isoformat(), "labels": {"instance": f"pod-{i}"}})
    return [alerts[i:i + per] for i in range(0, n, per)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU the server process has used (Linux /proc): a figure the other jobs
    on a shared machine disturb far less than the wall-clock rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid: int, timeout: float = 15.0) -> None:
    """Wait until the server is idle (under 5 % of a core over half a second), at most `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c0 = cpu_seconds(pid)
        time.sleep(0.5)
        if cpu_seconds(pid) - c0 < 0.025:
            return


def _request(host: str, body: bytes, token: str | None = None) -> bytes:
    """One pre-encoded HTTP/1.1 keep-alive POST /hooks/alerts."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /hooks/alerts HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes,
                    expect: int) -> bool:
    """Send one request, read its whole response (status line, headers, Content-Length
    body); True when it is a 202 whose JSON says `expect` alerts were stored."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    if head[9:12] != b"202":
        return False
    return bool(json.loads(body).get("stored") == expect)


def _send(base: str, bodies: list[list[dict]], clients: int, token: str | None = None) -> tuple[float, int]:
    """Wall seconds and failures (anything but a 202 storing every alert) for all bodies over
    `clients` keep-alive HTTP/1.1 connections.

    The client is deliberately lean (asyncio streams, requests encoded before the clock
    starts, one event loop): it shares the 2 cores with the server, and an httpx client per
    thread cost about as much CPU per request as the server's HTTP stack. It still speaks
    real HTTP/1.1 to the real server and checks every response."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    work = [(_request(host, json.dumps(b).encode(), token), len(b)) for b in bodies]

    async def run() -> int:
        queue = iter(work)
        failures = 0

        async def client() -> None:
            nonlocal failures
            reader, writer = await asyncio.open_connection(host, int(port))
            try:
                for request, expect in queue:  # a shared iterator: each request sent once
                    if not await _exchange(reader, writer, request, expect):
                        failures += 1
            finally:
                writer.close()

        await asyncio.gather(*(client() for _ in range(clients)))
        return failures

    started = time.perf_counter()
    failures = asyncio.run(run())
    return time.perf_counter() - started, failures


def run_one(tree: Path, label: str, store: str, pg_url: str | None, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="triops-bench-") as tmp:
        home = Path(tmp)
        with (pg_database(pg_url) if store == "postgresql" and pg_url else _nothing()) as db_url, \
                serve(tree, home, db_url) as (base, pid):
            _send(base, _payloads(200, args.per_request, 40, "warm"), args.clients)  # warm-up
            storm = _payloads(args.notifications, args.per_request, 40, "storm")
            cpu0, client0 = cpu_seconds(pid), time.process_time()
            secs, lost = _send(base, storm, args.clients)
            cpu, client = cpu_seconds(pid) - cpu0, time.process_time() - client0
            settle(pid)  # the storm's aftermath (its 40 new incidents' background work) is not growth
            grow_rates, grow_cpu = [], []
            chunk = args.grow // 10
            bodies = _payloads(args.grow, args.per_request, 1, "grow", one_incident=True)
            per_chunk = max(1, chunk // args.per_request)
            for c in range(10):
                part = bodies[c * per_chunk:(c + 1) * per_chunk]
                n = sum(len(b) for b in part)
                c0 = cpu_seconds(pid)
                s, f = _send(base, part, args.clients)
                grow_cpu.append(1e6 * (cpu_seconds(pid) - c0) / n)
                lost += f
                grow_rates.append(n / s)
    return {
        "code": label, "store": store, "notifications": args.notifications,
        "notifications_per_s": round(args.notifications / secs, 1),
        "requests_per_s": round(len(storm) / secs, 1),
        "server_cpu_ms_per_1000": round(1000 * cpu / args.notifications * 1000),
        "client_cpu_ms_per_1000": round(1000 * client / args.notifications * 1000),
        "growth_rates": [round(r, 1) for r in grow_rates],
        "growth_last_over_first": round(grow_rates[-1] / grow_rates[0], 2),
        "growth_cpu_ms_per_1000": [round(c) for c in grow_cpu],
        "growth_cpu_last_over_first": round(grow_cpu[-1] / grow_cpu[0], 2) if grow_cpu[0] else None,  # below a clock tick
        "non_202": lost,
    }


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", help="git ref of the code to compare against (same run)")
    ap.add_argument("--pg-url", help="PostgreSQL server URL (a fresh database is created per run)")
    ap.add_argument("--notifications", type=int, default=4000)
    ap.add_argument("--per-request", type=int, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--grow", type=int, default=10_000)
    ap.add_argument("--stores", default="sqlite,postgresql")
    args = ap.parse_args()
    stores = [s for s in args.stores.split(",") if s == "sqlite" or (s == "postgresql" and args.pg_url)]
    trees = [("current", ROOT)]
    with tempfile.TemporaryDirectory(prefix="triops-baseline-") as tmp:
        if args.baseline:
            trees.append((f"baseline {args.baseline}", extract(args.baseline, Path(tmp))))
        results = []
        for store in stores:
            for label, tree in trees:
                r = run_one(tree, label, store, args.pg_url, args)
                print(json.dumps(r), flush=True)
                results.append(r)
    print("\n| store | code | notifications/s | requests/s | server CPU ms / 1,000 | client CPU ms / 1,000 | growth rate per 1,000 (first → last) | last/first | growth CPU ms / 1,000 (first → last) | non-202 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        g, gc = r["growth_rates"], r["growth_cpu_ms_per_1000"]
        print(f"| {r['store']} | {r['code']} | {r['notifications_per_s']:,} | {r['requests_per_s']:,} | "
              f"{r['server_cpu_ms_per_1000']:,} | {r['client_cpu_ms_per_1000']:,} | "
              f"{g[0]:,} → {g[-1]:,} | {r['growth_last_over_first']} | "
              f"{gc[0]:,} → {gc[-1]:,} | {r['non_202']} |")


if __name__ == "__main__":
    main()
