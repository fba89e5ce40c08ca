"""Change providers: where suspect changes come from. The engine never queries on its own.

A provider is `(conn, services, start, end) -> list[ChangeEvent]` over epoch seconds.
Deployments come from the DORA store; model drift from the MLOps store when that module
is present (plug another provider in by adding it to `default_providers`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection

from tools.alerts.models import ChangeEvent
from tools.store.delivery import recent_deployments
from tools.timeutil import from_epoch

ChangeProvider = Callable[[Connection, Sequence[str], float, float], list[ChangeEvent]]


def deployment_changes(conn: Connection, services: Sequence[str], start: float, end: float) -> list[ChangeEvent]:
    rows = recent_deployments(conn, list(services), start, end, limit=50)
    return [
        ChangeEvent(
            kind="deployment",
            id=str(r["id"]),
            service=r["service"],
            at=from_epoch(r["finished_at"]),
            summary=_deployment_summary(r),
            status=r.get("status"),
        )
        for r in rows
    ]


def _deployment_summary(r: dict) -> str:
    parts = []
    if r.get("version"):
        parts.append(f"version {r['version']}")
    if r.get("kind") and r["kind"] != "normal":
        parts.append(str(r["kind"]))
    if r.get("status") == "failure":
        parts.append("failed")
    return ", ".join(parts)


def drift_changes(conn: Connection, services: Sequence[str], start: float, end: float) -> list[ChangeEvent]:
    """Model drift events from the MLOps store (tools.store.models.recent_drift_events: dicts
    with id, model, service, at (epoch), features (worst first), method, score, severity)."""
    from tools.store.models import recent_drift_events

    out = []
    for r in recent_drift_events(conn, start, end, services=list(services)):
        if r.get("at") is None or not r.get("service"):
            continue
        features = [str(f) for f in (r.get("features") or [])][:3]
        detail = f"{r.get('method')} {float(r['score']):.2f}" if r.get("method") and r.get("score") is not None else ""
        severity = r.get("severity")  # a float in the store: how far past its threshold (x times)
        if severity is not None:
            detail += f"{', ' if detail else ''}{float(severity):.1f}x its threshold"
        summary = f"model {r.get('model') or '?'}" + (f": drift in {', '.join(features)}" if features else "")
        out.append(
            ChangeEvent(
                kind="model_drift",
                id=str(r.get("id", "")),
                service=str(r["service"]),
                at=from_epoch(float(r["at"])),
                summary=summary + (f" ({detail})" if detail else ""),
                status="drifted",
            )
        )
    return out


def default_providers() -> list[ChangeProvider]:
    """Deployments, model drift, and model promotions/rollbacks (alias moves)."""
    from tools.mlops.ingest import model_alias_changes

    return [deployment_changes, drift_changes, model_alias_changes]


def gather_changes(
    conn: Connection,
    providers: Sequence[ChangeProvider],
    services: Sequence[str],
    start: float,
    end: float,
) -> list[ChangeEvent]:
    """Ask every provider. An error propagates: a provider that cannot read its store or
    builds an invalid event is a broken feature (model drift silently never reached an
    incident while this swallowed a validation error), not missing evidence."""
    out: list[ChangeEvent] = []
    for p in providers:
        out.extend(p(conn, services, start, end))
    return out
