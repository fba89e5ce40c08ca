"""A small world with hand-known answers, for the agent's tests and `triops eval agent`.

Now is 2026-11-23 12:00 UTC. In the last 30 days:
- checkout (team-shop): 10 production deployments, one every two days (1, 3, … 19 days
  ago); checkout-d3 and checkout-d7 each caused an incident → change fail rate 20 %; each
  deployment ships one commit made 5 hours before it finished → median lead time 5 h.
  Before that (30–60 days ago): 5 deployments, none failed.
- payments (team-payments): 4 deployments (2, 9, 16, 23 days ago), none failed; commits
  26 hours before → median lead time 26 h.
- search and ranking-api (team-search): 6 and 3 deployments, none failed.

Alerts (through the real pipeline, so incidents, causes and suspect changes are its own):
- 4 minutes after search-d0 (a day ago) search's pods crash-loop (KubePodCrashLooping,
  with its runbook), then checkout and ranking-api — both depend on search — error
  (HighErrorRate, HighLatency): one open incident, probable cause search, suspect change
  search-d0. 4 alerts, 4 notifications.
- 3 days ago a disk alert on payments (NodeFilesystemSpaceFillingUp) fired and resolved
  20 minutes later: a second, resolved incident. 2 notifications.
So over 7 days: 6 notifications, 5 distinct alerts, 2 incidents.

Models: `search-ranker` (serves ranking-api) champion v2 (ndcg@10 0.418 vs v1's 0.402),
trained 10 days ago; its newest feature window has `ctr_7d` sent as a percentage instead
of a fraction and a new `tv` device: ctr_7d, device and the score drift (2 of 4 features).
`fraud-scorer` (serves payments) champion v7 (auc 0.91), trained 200 days ago (older than
the 180-day limit: retrain); its inputs are stable. Each had its drift check an hour ago.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from tools.alerts.models import Alert, AlertLinks
from tools.catalog import Service, ServiceCatalog
from tools.contract import ToolContext
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.mlops.schemas import ModelIn
from tools.persistence import open_url
from tools.seed import log_feature_window, record_delivery, record_model_events
from tools.settings import Settings

if TYPE_CHECKING:
    from tools.persistence import Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def catalog() -> ServiceCatalog:
    return ServiceCatalog(services=[
        Service(name="checkout", team="team-shop", depends_on=["payments", "search"]),
        Service(name="payments", team="team-payments"),
        Service(name="search", team="team-search"),
        Service(name="ranking-api", team="team-search", depends_on=["search"]),
    ])


def _deploys(service: str, team: str, days_ago: list[int], lead_hours: float, prefix: str) -> list[DeploymentEvent]:
    out = []
    for i, d in enumerate(days_ago):
        finished = NOW - timedelta(days=d)
        out.append(DeploymentEvent(
            id=f"{prefix}{i}", service=service, team=team, environment="production",
            started_at=finished - timedelta(minutes=10), finished_at=finished, status="success",
            version=f"v1.{i}.0",
            commits=[{"sha": f"{prefix.replace('-', '')}{i:04d}aa", "committed_at": finished - timedelta(hours=lead_hours)}],
        ))
    return out


def deployments() -> list[DeploymentEvent]:
    return [
        *_deploys("checkout", "team-shop", [1, 3, 5, 7, 9, 11, 13, 15, 17, 19], 5, "checkout-d"),
        *_deploys("checkout", "team-shop", [35, 40, 45, 50, 55], 5, "checkout-p"),
        *_deploys("payments", "team-payments", [2, 9, 16, 23], 26, "payments-d"),
        *_deploys("search", "team-search", [1, 4, 8, 12, 20, 27], 8, "search-d"),
        *_deploys("ranking-api", "team-search", [6, 14, 22], 12, "ranking-d"),
    ]


def incidents() -> list[IncidentEvent]:
    out = []
    for dep in ("checkout-d3", "checkout-d7"):
        days = {"checkout-d3": 7, "checkout-d7": 15}[dep]
        opened = NOW - timedelta(days=days) + timedelta(minutes=30)
        out.append(IncidentEvent(
            id=f"INC-{dep}", service="checkout", opened_at=opened, resolved_at=opened + timedelta(hours=2),
            caused_by_deployment=dep, severity="sev2", title=f"checkout errors after {dep}",
        ))
    return out


RUNBOOK = "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"


def _alert(name: str, service: str, start: datetime, message: str, *, severity: str = "warning",
           status: str = "firing", end: datetime | None = None, runbook: str | None = None) -> Alert:
    return Alert(
        source="alertmanager", fingerprint=f"{name}-{service}", name=name, service=service, severity=severity,
        status=status, labels={"alertname": name, "service": service}, annotations={"summary": message},
        starts_at=start, ends_at=end, links=AlertLinks(runbook=runbook),
    )


def alert_notifications() -> list[Alert]:
    """What the alert webhooks received, in time order."""
    t0 = NOW - timedelta(days=1) + timedelta(minutes=4)  # search-d0 finished a day ago
    disk = NOW - timedelta(days=3)
    disk_text = "Filesystem on /dev/sda1 at payments-db-0 is predicted to run out of space within 24 hours."
    return [
        _alert("NodeFilesystemSpaceFillingUp", "payments", disk, disk_text),
        _alert("NodeFilesystemSpaceFillingUp", "payments", disk, disk_text, status="resolved",
               end=disk + timedelta(minutes=20)),
        _alert("KubePodCrashLooping", "search", t0, "Pod search/search-7f9c is crash looping.", runbook=RUNBOOK),
        _alert("HighErrorRate", "checkout", t0 + timedelta(minutes=1), "checkout: 5xx ratio above 5%", severity="critical"),
        _alert("HighErrorRate", "ranking-api", t0 + timedelta(minutes=1, seconds=20), "ranking-api: 5xx ratio above 5%",
               severity="critical"),
        _alert("HighLatency", "checkout", t0 + timedelta(minutes=2), "checkout: p99 latency above 1 s"),
    ]


def _features(rng: np.random.Generator, n: int, broken: bool) -> pd.DataFrame:
    ctr = rng.beta(2, 30, n)
    device = np.array(["ios", "android", "web"], dtype=object)[rng.choice(3, n, p=[0.45, 0.35, 0.2])]
    if broken:
        ctr = ctr * 100  # a percentage now, not a fraction
        device[rng.random(n) < 0.08] = "tv"
    frame = pd.DataFrame({"query_len": rng.poisson(3.2, n) + 1, "ctr_7d": ctr, "device": device,
                          "price": rng.lognormal(3.4, 0.7, n).round(2)})
    frame["score"] = 1 / (1 + np.exp(-(-1.2 + 6.0 * np.minimum(ctr, 1.0) + rng.normal(0, 0.3, n))))
    return frame


def models() -> list[ModelIn]:
    day = timedelta(days=1)
    return [
        ModelIn(name="search-ranker", service="ranking-api", team="team-search", prediction_column="score",
                versions=[
                    {"version": "1", "trained_at": NOW - 60 * day, "registered_at": NOW - 59 * day,
                     "aliases": [], "metrics": {"ndcg@10": 0.402}},
                    {"version": "2", "trained_at": NOW - 10 * day, "registered_at": NOW - 9 * day,
                     "aliases": ["champion"], "metrics": {"ndcg@10": 0.418}},
                ]),
        ModelIn(name="fraud-scorer", service="payments", team="team-payments", prediction_column="score",
                versions=[{"version": "7", "trained_at": NOW - 200 * day, "registered_at": NOW - 199 * day,
                           "aliases": ["champion"], "metrics": {"auc": 0.91}}]),
    ]


def seed_models(store: Store) -> None:
    """Registry events, feature windows, and each model's drift check an hour ago — the
    check through the real drift tool, as the scheduled check would run it."""
    from tools.mlops.tool import drift_report

    rng = np.random.default_rng(11)
    # one event per version, in order, as a registry would send them
    record_model_events(store, [(m.model_copy(update={"versions": [v]}), (v.registered_at or NOW).timestamp())
                                for m in models() for v in m.versions])
    end = NOW - timedelta(hours=1)
    checked = context(store, clock=lambda: end)
    for name, broken in (("search-ranker", True), ("fraud-scorer", False)):
        reference, current = _features(rng, 3000, False), _features(rng, 3000, broken)
        log_feature_window(store, name, "reference", reference, (NOW - timedelta(days=9)).timestamp())
        log_feature_window(store, name, "2026-11-23", current, end.timestamp(),
                           start=(end - timedelta(days=1)).timestamp(), end=end.timestamp())
        drift_report.run(checked, {"model": name, "record": True}, actor="eval-world").unwrap()


def seed(store: Store) -> None:
    from tools.alerts.pipeline import AlertPipeline

    record_delivery(store, deployments(), incidents())
    seed_models(store)
    with AlertPipeline(store, catalog(), clock=lambda: NOW) as pipeline:
        pipeline.ingest(alert_notifications())


def context(store: Store, settings: Settings | None = None, *,
            clock: Callable[[], datetime] = lambda: NOW) -> ToolContext:
    settings = settings or Settings(home=Path("/nonexistent-triops-home"))
    return ToolContext(settings=settings, store=store, catalog=catalog(), clock=clock)


def open_world(url: str | None = None, settings: Settings | None = None) -> ToolContext:
    """A fresh store seeded with this world, and its tool context.

    By default a SQLite file in a new temporary directory: an in-memory database would be a
    different, empty one in each thread (the agent runs tools on worker threads).
    """
    if url is None:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='triops-eval-')) / 'world.db'}"
    store = open_url(url)
    seed(store)
    return context(store, settings)
