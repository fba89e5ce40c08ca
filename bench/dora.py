"""DORA at scale: the `dora_metrics` tool vs a plain pandas implementation, same run.

Generates a year of delivery events (default 1,000,000 deployments over 200 services,
~2 commits each, rollbacks, hotfixes, rollbacks of rollbacks, failed deployments, staging
deployments, incidents — some still open), loads them into SQLite through the real ingest
path (`upsert_deployments` / `upsert_incidents` in batches) and caches the file under
bench/out/. Then times all five metrics (current + previous window) for one service and
for the whole org over 90 days, with the tool and with pandas on frames already in memory,
and asserts that every figure agrees.

    python bench/dora.py                       # 1M deployments (generation cached)
    python bench/dora.py --deployments 100000  # quicker, for development
    python bench/dora.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.catalog import Service, ServiceCatalog
from tools.contract import ToolContext
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.dora import levels
from tools.dora.tool import dora_metrics
from tools.settings import Settings
from tools.store import Store
from tools.store.delivery import upsert_deployments, upsert_incidents

OUT = Path(__file__).resolve().parent / "out"
END = datetime(2026, 1, 1, tzinfo=UTC)  # as_of of every query; the log covers the year before
DAY = 86400.0
HOUR = 3600.0
BATCH = 10_000


# --- generation ------------------------------------------------------------------------


@dataclass
class Generated:
    deployments: list[dict[str, Any]]
    incidents: list[dict[str, Any]]


def service_names(n: int) -> list[str]:
    return [f"svc-{i:03d}" for i in range(n)]


def team_of(i: int) -> str:
    return f"team-{i % 25:02d}"


def generate(n_deployments: int, n_services: int, days: int, seed: int) -> Generated:
    """A year of deployments: busy and quiet services, ~10 % needing intervention."""
    rng = np.random.default_rng(seed)
    start = END.timestamp() - days * DAY
    weights = rng.lognormal(0.0, 0.8, n_services)
    per_service = rng.multinomial(n_deployments, weights / weights.sum())
    names = service_names(n_services)
    deployments: list[dict[str, Any]] = []
    incidents: list[dict[str, Any]] = []
    for s, (name, count) in enumerate(zip(names, per_service, strict=True)):
        times = np.sort(rng.uniform(start, END.timestamp() - 60, count))
        u = rng.random((count, 8))
        pending: list[str] = []  # commits not yet in a successful production deployment
        remediate: tuple[str, float, str] | None = None  # (id, finished, rollback|hotfix)
        sha_seq = 0
        prev_finish = start
        for i in range(count):
            dep_id = f"{name}-{i:06d}"
            finished = float(times[i])
            kind, remediates = "normal", None
            if remediate is not None:
                target, target_finish, kind = remediate
                delay = (
                    (5 + 115 * u[i, 0]) * 60 if kind == "rollback" else (1 + 11 * u[i, 0]) * HOUR
                )
                finished = max(prev_finish, min(finished, target_finish + delay))
                remediates, remediate = target, None
            env = "staging" if kind == "normal" and u[i, 1] < 0.08 else "production"
            status = "failure" if u[i, 2] < 0.03 else "success"
            commits: list[dict[str, Any]] = []
            if kind != "rollback":
                n_new = 1 if kind == "hotfix" else 1 + rng.poisson(1.0)
                for _ in range(n_new):
                    lag = rng.lognormal(math.log(6 * HOUR), 1.2)
                    pending.append((f"{s:03d}{sha_seq:08d}", finished - lag))
                    sha_seq += 1
                commits = [
                    {"sha": sha, "committed_at": datetime.fromtimestamp(at, tz=UTC)}
                    for sha, at in pending
                ]
            if env == "production" and status == "success":
                pending = []  # shipped; failures and staging carry them to the next one
            if env == "production" and status == "success":
                bad = u[i, 3] < (0.05 if kind == "rollback" else 0.10)
                if bad:
                    r = u[i, 4]
                    fix = "rollback" if r < 0.45 else "hotfix" if r < 0.75 else None
                    if fix:
                        remediate = (dep_id, finished, fix)
                    if fix is None or u[i, 5] < 0.6:
                        opened = finished + (5 + 55 * u[i, 6]) * 60
                        duration = rng.lognormal(math.log(3 * HOUR), 1.0)
                        resolved = opened + duration
                        still_open = resolved > END.timestamp() or u[i, 7] < 0.02
                        incidents.append(
                            {
                                "id": f"inc-{dep_id}",
                                "service": name,
                                "opened_at": datetime.fromtimestamp(opened, tz=UTC),
                                "resolved_at": None
                                if still_open
                                else datetime.fromtimestamp(resolved, tz=UTC),
                                "caused_by_deployment": dep_id,
                                "severity": "SEV2",
                            }
                        )
            deployments.append(
                {
                    "id": dep_id,
                    "service": name,
                    "team": team_of(s),
                    "environment": env,
                    "kind": kind,
                    "status": status,
                    "remediates": remediates,
                    "started_at": datetime.fromtimestamp(finished - 300, tz=UTC),
                    "finished_at": datetime.fromtimestamp(finished, tz=UTC),
                    "version": f"v{i}",
                    "commits": commits,
                }
            )
            prev_finish = finished
    n_background = n_deployments // 50  # incidents no deployment caused
    for k in range(n_background):
        opened = rng.uniform(start, END.timestamp())
        incidents.append(
            {
                "id": f"inc-bg-{k:07d}",
                "service": names[int(rng.integers(n_services))],
                "opened_at": datetime.fromtimestamp(opened, tz=UTC),
                "resolved_at": datetime.fromtimestamp(opened + 1800, tz=UTC),
                "caused_by_deployment": None,
                "severity": "SEV3",
            }
        )
    return Generated(deployments, incidents)


def batches(items: list[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def ingest(store: Store, gen: Generated) -> dict[str, float]:
    """Validate and upsert in batches, as `triops ingest` does; returns the rates."""
    t0 = time.perf_counter()
    upsert_s = 0.0
    for chunk in batches(gen.deployments):
        events = [DeploymentEvent.model_validate(d) for d in chunk]
        t = time.perf_counter()
        with store.engine.begin() as conn:
            upsert_deployments(conn, events)
        upsert_s += time.perf_counter() - t
    for chunk in batches(gen.incidents):
        events = [IncidentEvent.model_validate(d) for d in chunk]
        with store.engine.begin() as conn:
            upsert_incidents(conn, events)
    total = time.perf_counter() - t0
    n = len(gen.deployments)
    return {
        "deployments": n,
        "incidents": len(gen.incidents),
        "seconds": total,
        "deployments_per_s": n / total,
        "upsert_deployments_per_s": n / upsert_s,
    }


def build_or_reuse(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists() and not args.rebuild:
        meta = json.loads(meta_path.read_text())
        meta["cached"] = True
        return meta
    for p in (path, meta_path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)
    tmp = path.with_suffix(".tmp.db")
    tmp.unlink(missing_ok=True)
    t = time.perf_counter()
    gen = generate(args.deployments, args.services, args.days, args.seed)
    gen_s = time.perf_counter() - t
    print(
        f"generated {len(gen.deployments):,} deployments, {len(gen.incidents):,} incidents in {gen_s:.1f} s"
    )
    store = Store.open(f"sqlite:///{tmp}")
    rates = ingest(store, gen)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    tmp.rename(path)
    meta = {"generate_seconds": gen_s, "ingest": rates, "cached": False}
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


# --- the pandas reference ------------------------------------------------------------


@dataclass
class Frames:
    deployments: pd.DataFrame
    commits: pd.DataFrame
    incidents: pd.DataFrame
    first_ship: pd.DataFrame  # per (service, sha): first successful prod deployment
    finished_by_id: pd.Series  # deployments.finished_at indexed by id (the primary key)


def load_frames(url: str) -> Frames:
    engine = create_engine(url)
    with engine.connect() as conn:
        d = pd.read_sql(
            text(
                "SELECT id, service, team, environment, kind, status, remediates, finished_at "
                "FROM deployments"
            ),
            conn,
        )
        c = pd.read_sql(
            text("SELECT deployment_id, sha, committed_at FROM deployment_commits"), conn
        )
        i = pd.read_sql(
            text("SELECT id, caused_by_deployment, opened_at, resolved_at FROM incidents"), conn
        )
    engine.dispose()
    return Frames(d, c, i, first_shipments(d, c), d.set_index("id").finished_at)


def first_shipments(d: pd.DataFrame, c: pd.DataFrame) -> pd.DataFrame:
    """Each (service, sha)'s first successful production deployment; earliest committed_at."""
    ok = d[(d.environment == "production") & (d.status == "success")][
        ["id", "service", "finished_at"]
    ]
    m = c.merge(ok, left_on="deployment_id", right_on="id")
    m = m.sort_values(["finished_at", "deployment_id"], kind="stable")
    g = m.groupby(["service", "sha"], sort=False)
    return pd.DataFrame(
        {
            "deployed_at": g.finished_at.first(),
            "committed_at": g.committed_at.min(),
            "deployment_id": g.deployment_id.first(),
        }
    ).reset_index()


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(pd.Series(values).quantile(q / 100)) if len(values) else None


def _median_days(offsets: np.ndarray, window_days: float, bucket: int) -> float:
    if window_days < bucket:
        return len(offsets) * bucket / window_days
    n = int(window_days // bucket)
    inside = pd.Series(offsets[offsets < n * bucket] // bucket)
    counts = inside.value_counts().reindex(range(n), fill_value=0)
    return float(counts.median())


def pandas_period(
    f: Frames, services: list[str] | None, start: float, end: float, as_of: float
) -> dict:
    d = f.deployments
    w = d[
        (d.environment == "production")
        & (d.status == "success")
        & (d.finished_at >= start)
        & (d.finished_at < end)
    ]
    if services is not None:
        w = w[w.service.isin(services)]
    n = len(w)
    window_days = (end - start) / DAY
    offsets = np.unique(np.ceil((end - w.finished_at.to_numpy()) / DAY).astype(np.int64) - 1)
    per_week = _median_days(offsets, window_days, 7)
    per_month = _median_days(offsets, window_days, 30)

    fs = f.first_ship
    fs = fs[(fs.deployed_at >= start) & (fs.deployed_at < end)]
    if services is not None:
        fs = fs[fs.service.isin(services)]
    millis = np.floor((fs.deployed_at - fs.committed_at).dropna().to_numpy() * 1000)
    lead = np.maximum(millis / 1000, 0) / HOUR  # lead times are taken to the millisecond

    rem = d[d.remediates.notna() & (d.finished_at <= as_of)]
    rem = rem[rem.finished_at >= rem.remediates.map(f.finished_by_id)]  # later than its target
    remediated_at = rem[rem.status == "success"].groupby("remediates").finished_at.min()
    inc = f.incidents[f.incidents.caused_by_deployment.notna() & (f.incidents.opened_at <= as_of)]
    resolved = inc.resolved_at.notna() & (inc.resolved_at <= as_of)
    inc = inc.assign(open=~resolved, res=inc.resolved_at.where(resolved))
    by_dep = inc.groupby("caused_by_deployment").agg(open=("open", "sum"), res=("res", "max"))
    failed = w[w.id.isin(rem.remediates) | w.id.isin(by_dep.index)]
    failed = failed.assign(
        remediated_at=failed.id.map(remediated_at),
        open=failed.id.map(by_dep.open),
        res=failed.id.map(by_dep.res),
    )
    by_incident = failed.res.where(failed.open.eq(0))
    recovered_at = pd.concat([failed.remediated_at, by_incident], axis=1).min(axis=1)
    hours = ((recovered_at - failed.finished_at).clip(lower=0) / HOUR).dropna().to_numpy()
    still_open = failed[recovered_at.isna()].sort_values(["finished_at", "id"])
    rollbacks = int((w.kind == "rollback").sum())
    hotfixes = int((w.kind == "hotfix").sum())
    cfr = 100.0 * len(failed) / n if n else None
    med_lead, med_rec = _pct(lead, 50), _pct(hours, 50)
    return {
        "deployment_frequency": {
            "deployments": n,
            "per_day": n / window_days,
            "per_week": n / window_days * 7,
            "deploy_days": len(offsets),
            "median_deploy_days_per_week": per_week,
            "median_deploy_days_per_month": per_month,
            "level": levels.frequency_level(per_week, per_month),
        },
        "lead_time": {
            "commits": len(lead),
            "commits_without_time": int(fs.committed_at.isna().sum()),
            "median_hours": med_lead,
            "p90_hours": _pct(lead, 90),
            "level": levels.lead_time_level(med_lead),
        },
        "change_fail_rate": {
            "deployments": n,
            "failed": len(failed),
            "rate_percent": cfr,
            "level": levels.change_fail_level(cfr),
            "failed_deployments": sorted(failed.id)[:20],
        },
        "recovery_time": {
            "failures": len(failed),
            "recovered": len(hours),
            "median_hours": med_rec,
            "p90_hours": _pct(hours, 90),
            "level": levels.recovery_level(med_rec),
            "open_failures": [
                {"deployment_id": r.id, "open_hours": max(0.0, as_of - r.finished_at) / HOUR}
                for r in still_open.itertuples()
            ],
        },
        "rework_rate": {
            "deployments": n,
            "unplanned": rollbacks + hotfixes,
            "rollbacks": rollbacks,
            "hotfixes": hotfixes,
            "rate_percent": 100.0 * (rollbacks + hotfixes) / n if n else None,
        },
    }


def pandas_report(f: Frames, services: list[str] | None, days: int, as_of: float) -> dict:
    length = days * DAY
    return {
        "current": pandas_period(f, services, as_of - length, as_of, as_of),
        "previous": pandas_period(f, services, as_of - 2 * length, as_of - length, as_of),
    }


# --- comparison and timing --------------------------------------------------------------


def assert_agree(tool: Any, want: Any, path: str = "") -> int:
    """Every figure the pandas version produced must match the tool's; returns how many."""
    if isinstance(want, dict):
        return sum(assert_agree(tool[k], v, f"{path}.{k}") for k, v in want.items())
    if isinstance(want, list):
        assert len(tool) == len(want), f"{path}: {len(tool)} != {len(want)}"
        return sum(
            assert_agree(a, b, f"{path}[{i}]")
            for i, (a, b) in enumerate(zip(tool, want, strict=True))
        )
    if isinstance(want, float) or isinstance(tool, float):
        ok = (
            want is not None
            and tool is not None
            and math.isclose(tool, want, rel_tol=1e-9, abs_tol=1e-9)
        )
        assert ok, f"{path}: tool {tool!r} != pandas {want!r}"
        return 1
    assert tool == want, f"{path}: tool {tool!r} != pandas {want!r}"
    return 1


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any, float]:
    """Median wall time, all wall times, the result, and median CPU time of this process.

    CPU time is reported beside wall time because the machine is shared: wall time grows
    with other processes' load, CPU time is the work this one did.
    """
    times, cpu, result = [], [], None
    for _ in range(repeats):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), times, result, statistics.median(cpu)


def run(args: argparse.Namespace) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / f"dora_{args.deployments}_{args.services}_{args.days}d_s{args.seed}.db"
    meta = build_or_reuse(db, args)
    ing = meta["ingest"]
    print(
        f"store: {db.name} ({'cached' if meta['cached'] else 'built'}); ingest of "
        f"{ing['deployments']:,} deployments + {ing['incidents']:,} incidents: {ing['seconds']:.1f} s "
        f"= {ing['deployments_per_s']:,.0f} deployments/s validated+stored "
        f"({ing['upsert_deployments_per_s']:,.0f}/s in upsert_deployments)"
    )
    url = f"sqlite:///{db}"
    if args.postgres:
        url = load_postgres(db, args.postgres)
    store = Store.open(url)
    ensure_indexes(store)
    names = service_names(args.services)
    catalog = ServiceCatalog(
        services=[Service(name=n, team=team_of(i)) for i, n in enumerate(names)]
    )
    ctx = ToolContext(
        settings=Settings(_env_file=None), store=store, catalog=catalog, clock=lambda: END
    )

    t = time.perf_counter()
    frames = load_frames(url)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    frames.first_ship = first_shipments(frames.deployments, frames.commits)
    frames.finished_by_id = frames.deployments.set_index("id").finished_at
    prep_s = time.perf_counter() - t
    busiest = frames.deployments.service.value_counts().index[0]
    print(
        f"pandas: frames loaded in {load_s:.1f} s; first shipment of each commit "
        f"(what commit_leads keeps at ingest) in {prep_s:.2f} s"
    )
    window = f"{args.window_days}d"
    as_of = END.timestamp()
    rows = []
    for label, scope, services in (
        (f"service {busiest}", busiest, [busiest]),
        ("whole org", None, None),
    ):
        tool_med, tool_all, report, tool_cpu = timed(
            lambda scope=scope: dora_metrics.run(
                ctx, {"scope": scope, "window": window, "as_of": END}
            ),
            args.repeats,
        )
        pd_med, _, want, pd_cpu = timed(
            lambda services=services: pandas_report(frames, services, args.window_days, as_of),
            args.repeats,
        )
        got = report.model_dump()
        figures = assert_agree(got, want)
        cur = report.current
        rows.append((label, tool_med, pd_med, figures, cur, tool_cpu))
        print(
            f"{label:>16}: tool median {tool_med * 1000:8.1f} ms wall, {tool_cpu * 1000:6.1f} ms CPU "
            f"(runs {', '.join(f'{x * 1000:.0f}' for x in tool_all)})  pandas median "
            f"{pd_med * 1000:8.1f} ms wall, {pd_cpu * 1000:6.1f} ms CPU  "
            f"ratio pandas/tool {pd_med / tool_med:5.2f}x wall, {pd_cpu / tool_cpu:5.2f}x CPU  "
            f"{figures} figures agree; current window: {cur.deployment_frequency.deployments:,} "
            f"deployments, {cur.lead_time.commits:,} commits, {cur.change_fail_rate.failed:,} failed, "
            f"{len(cur.recovery_time.open_failures)} open"
        )
    org_ms, org_cpu = rows[-1][1] * 1000, rows[-1][5] * 1000
    target = "MET" if org_ms < 1000 else "MISSED"
    print(
        f"target org-wide < 1 s on {store.dialect}: {target} by wall time ({org_ms:.0f} ms; "
        f"{org_cpu:.0f} ms CPU); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    store.close()


def ensure_indexes(store: Store) -> None:
    """Bring a store cached by an older revision to today's indexes (create_all adds tables only)."""
    from sqlalchemy import inspect

    from tools.store.base import metadata

    t = time.perf_counter()
    created = []
    for table in metadata.sorted_tables:
        wanted = {index.name for index in table.indexes}
        with store.engine.begin() as conn:
            for info in inspect(conn).get_indexes(table.name):
                if info["name"] not in wanted:
                    conn.execute(text(f'DROP INDEX "{info["name"]}"'))
                    created.append(f"-{info['name']}")
        for index in table.indexes:
            with store.engine.begin() as conn:
                if not store.engine.dialect.has_index(conn, table.name, index.name):
                    index.create(conn)
                    created.append(index.name)
    if created:
        print(f"created missing indexes {', '.join(created)} in {time.perf_counter() - t:.1f} s")


def load_postgres(db: Path, url: str) -> str:
    """Copy the cached SQLite log into PostgreSQL through the same ingest path.

    Into its own schema (`bench_dora`), so tests sharing the database never meet it.
    """
    from urllib.parse import quote

    from tools.settings import normalise_database_url

    url = normalise_database_url(url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE SCHEMA IF NOT EXISTS bench_dora"))
    admin.dispose()
    url = f"{url}{'&' if '?' in url else '?'}options={quote('-csearch_path=bench_dora')}"
    pg = Store.open(url)
    with pg.engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM deployments")).scalar_one()
    src = create_engine(f"sqlite:///{db}")
    with src.connect() as conn:
        total = conn.execute(text("SELECT count(*) FROM deployments")).scalar_one()
    if n == total:
        print(f"postgres: reusing {n:,} deployments already in {url}")
        pg.close()
        return url
    t = time.perf_counter()
    with src.connect() as conn:
        commits: dict[str, list[dict]] = {}
        for dep_id, sha, at in conn.execute(
            text("SELECT deployment_id, sha, committed_at FROM deployment_commits")
        ):
            commits.setdefault(dep_id, []).append(
                {
                    "sha": sha,
                    "committed_at": datetime.fromtimestamp(at, tz=UTC) if at is not None else None,
                }
            )
        rows = conn.execute(text("SELECT * FROM deployments")).mappings().all()
        gen = Generated(
            [
                {
                    **{
                        k: r[k]
                        for k in (
                            "id",
                            "service",
                            "team",
                            "environment",
                            "kind",
                            "status",
                            "remediates",
                            "version",
                        )
                    },
                    "finished_at": datetime.fromtimestamp(r["finished_at"], tz=UTC),
                    "commits": commits.get(r["id"], []),
                }
                for r in rows
            ],
            [
                {
                    **dict(r),
                    "opened_at": datetime.fromtimestamp(r["opened_at"], tz=UTC),
                    "resolved_at": datetime.fromtimestamp(r["resolved_at"], tz=UTC)
                    if r["resolved_at"]
                    else None,
                }
                for r in conn.execute(text("SELECT * FROM incidents")).mappings()
            ],
        )
    rates = ingest(pg, gen)
    pg.close()
    print(
        f"postgres: ingested {rates['deployments']:,} deployments in {time.perf_counter() - t:.0f} s "
        f"({rates['deployments_per_s']:,.0f}/s)"
    )
    return url


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--deployments", type=int, default=1_000_000)
    p.add_argument("--services", type=int, default=200)
    p.add_argument("--days", type=int, default=365, help="length of the generated log")
    p.add_argument("--window-days", type=int, default=90)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rebuild", action="store_true", help="regenerate the cached store")
    p.add_argument("--postgres", metavar="URL", help="query PostgreSQL (loaded from the cache)")
    run(p.parse_args())


if __name__ == "__main__":
    main()
