"""90 days of production deployments with commits, failures, rollbacks, hotfixes, incidents.

Each service ships at its own pace and failure rate; a failed change is caught by an
incident, a rollback or a hotfix (sometimes both), one rollback is itself rolled back, and
one recent failure is still open, so every DORA edge shows up in the demo.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from tools.delivery.models import Commit, DeploymentEvent, IncidentEvent

if TYPE_CHECKING:
    from tools.scenario import Scenario

# deploys per working day, chance a deploy needs intervention, median commit age (hours)
PROFILE = {
    "web-frontend": (4.0, 0.06, 20),
    "checkout": (2.5, 0.12, 30),
    "payments": (1.2, 0.18, 60),
    "inventory": (0.8, 0.08, 90),
    "search": (1.5, 0.05, 26),
    "ranking": (0.9, 0.10, 48),
    "feature-store": (0.5, 0.07, 120),
    "auth": (0.6, 0.04, 70),
    "postgres-main": (0.15, 0.10, 200),
}


def build(sc: Scenario, rng: np.random.Generator, *, days: int) -> None:
    start = sc.now - timedelta(days=days)
    seq = 0
    for service, (rate, fail_p, commit_hours) in PROFILE.items():
        team = sc.catalog.team_of(service)
        version = 100
        t = start + timedelta(hours=float(rng.uniform(0, 12)))
        while True:
            gap_days = float(rng.exponential(1.0 / rate))
            t = t + timedelta(days=gap_days)
            if t.weekday() >= 5:  # weekends are quiet: push to Monday morning
                t = t + timedelta(days=7 - t.weekday(), hours=float(rng.uniform(0, 3)))
            if t >= sc.now - timedelta(hours=1):
                break
            seq += 1
            version += 1
            duration = timedelta(minutes=float(rng.uniform(4, 25)))
            commits = _commits(rng, service, seq, t, commit_hours)
            status = "failure" if rng.random() < 0.03 else "success"
            dep = DeploymentEvent(
                id=f"{service}-{seq:05d}",
                service=service,
                environment="production",
                started_at=t,
                finished_at=t + duration,
                status=status,
                kind="normal",
                commits=commits,
                team=team,
                version=f"v1.{version}",
            )
            sc.deployments.append(dep)
            if status == "success" and rng.random() < fail_p:
                seq = _fail(sc, rng, dep, seq)
        _staging(sc, rng, service, team, start)
    _rollback_of_rollback(sc, rng)
    _recent_bad_deployment(sc)
    sc.deployments.sort(key=lambda d: d.finished_at)


def _commits(rng: np.random.Generator, service: str, seq: int, t: datetime, median_h: float) -> list[Commit]:
    n = int(rng.integers(0, 6))  # some deploys (config-only) carry no commit
    ages = rng.lognormal(mean=np.log(median_h), sigma=0.8, size=n)
    return [
        Commit(sha=hashlib.sha1(f"{service}:{seq}:{i}".encode()).hexdigest()[:12], committed_at=t - timedelta(hours=float(a)))
        for i, a in enumerate(ages)
    ]


def _fail(sc: Scenario, rng: np.random.Generator, dep: DeploymentEvent, seq: int) -> int:
    """Mark `dep` as a failed change: an incident, and/or a rollback or hotfix."""
    roll = rng.random()
    detect = timedelta(minutes=float(rng.uniform(3, 40)))
    fix = timedelta(minutes=float(rng.lognormal(np.log(75), 0.9)))
    if roll < 0.8:
        sc.incidents.append(
            IncidentEvent(
                id=f"INC-{len(sc.incidents) + 1:04d}",
                service=dep.service,
                opened_at=dep.finished_at + detect,
                resolved_at=dep.finished_at + detect + fix,
                caused_by_deployment=dep.id,
                severity=str(rng.choice(["sev1", "sev2", "sev3"], p=[0.15, 0.45, 0.40])),
                title=f"{dep.service} errors after {dep.version}",
            )
        )
    if roll > 0.3:
        seq += 1
        kind = "rollback" if rng.random() < 0.6 else "hotfix"
        at = dep.finished_at + detect + fix * float(rng.uniform(0.6, 1.1))
        sc.deployments.append(
            DeploymentEvent(
                id=f"{dep.service}-{seq:05d}",
                service=dep.service,
                environment="production",
                started_at=at - timedelta(minutes=6),
                finished_at=at,
                status="success",
                kind=kind,
                remediates=dep.id,
                commits=[] if kind == "rollback" else [Commit(sha=f"fix{seq:09d}", committed_at=at - timedelta(minutes=40))],
                team=dep.team,
                version=f"{dep.version}-{kind}",
            )
        )
    return seq


def _staging(sc: Scenario, rng: np.random.Generator, service: str, team: str | None, start: datetime) -> None:
    """A few staging deploys: they must never count in production metrics."""
    for i in range(3):
        t = start + timedelta(days=float(rng.uniform(1, 80)))
        sc.deployments.append(
            DeploymentEvent(
                id=f"{service}-stg-{i}",
                service=service,
                environment="staging",
                finished_at=t,
                status="success",
                team=team,
            )
        )


def _rollback_of_rollback(sc: Scenario, rng: np.random.Generator) -> None:
    rollbacks = [d for d in sc.deployments if d.kind == "rollback" and d.service == "checkout"]
    if not rollbacks:
        return
    rb = rollbacks[len(rollbacks) // 2]
    at = rb.finished_at + timedelta(minutes=35)
    sc.deployments.append(
        DeploymentEvent(
            id=f"{rb.id}-rb",
            service=rb.service,
            environment="production",
            started_at=at - timedelta(minutes=5),
            finished_at=at,
            status="success",
            kind="rollback",
            remediates=rb.id,
            team=rb.team,
            version=f"{rb.version}-undo",
        )
    )


def _recent_bad_deployment(sc: Scenario) -> None:
    """payments v1.999 ships 50 minutes ago; its incident is still open."""
    finished = sc.now - timedelta(minutes=50)
    dep = DeploymentEvent(
        id="payments-bad-1",
        service="payments",
        environment="production",
        started_at=finished - timedelta(minutes=12),
        finished_at=finished,
        status="success",
        kind="normal",
        commits=[
            Commit(sha="badc0ffee001", committed_at=finished - timedelta(hours=5)),
            Commit(sha="badc0ffee002", committed_at=finished - timedelta(hours=2)),
        ],
        team="team-payments",
        version="v1.999",
    )
    sc.deployments.append(dep)
    sc.incidents.append(
        IncidentEvent(
            id="INC-OPEN-1",
            service="payments",
            opened_at=finished + timedelta(minutes=9),
            resolved_at=None,
            caused_by_deployment=dep.id,
            severity="sev1",
            title="payments: card authorisations failing",
        )
    )
    sc.bad_deployment = dep
