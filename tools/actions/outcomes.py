"""Follow-up checks of executed actions and their outcomes per action kind: the
"incidents remediated through triops" figure of `/triops alerts stats`."""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING, Any

from tools.actions.base import Check
from tools.actions.registry import spec
from tools.errors import TriopsError
from tools.store import actions as _store
from tools.timeutil import now_utc

if TYPE_CHECKING:
    from tools.contract import ToolContext
    from tools.store import Store

log = logging.getLogger("triops.actions.outcomes")


def run_due_checks(ctx: ToolContext, now: float | None = None) -> list[tuple[str, Check]]:
    """Verify every executed action whose delay has passed, once (claimed in the database)."""
    now = now if now is not None else now_utc().timestamp()
    done: list[tuple[str, Check]] = []
    with ctx.store.engine.connect() as conn:
        due = _store.due_checks(conn, now - ctx.settings.action_verify_delay)
    for req in due:
        with ctx.store.begin() as conn:
            if not _store.claim_check(conn, req.id, now):
                continue  # another replica has it
        s = spec(req.action)
        if s is None or s.verify is None:
            result = Check(outcome="worked", detail="executed; this action has no follow-up check")
        else:
            try:
                out = json.loads(req.result or "{}")
                result = s.verify(ctx, s.tool.parse(req.args), out)
            except TriopsError as exc:
                result = Check(outcome="failed", detail=f"check failed: {exc.message}")
            if s.fixes and result.outcome == "worked":
                result = _incident_resolved(ctx, req.id, result)
            if s.fixes and result.outcome != "failed" and ctx.settings.prometheus_url and req.decided_at:
                result = error_rate_check(ctx, req.args, result, req.decided_at, now)
        with ctx.store.begin() as conn:
            _store.record_outcome(conn, req.id, result.outcome, result.detail, now)
        done.append((req.id, result))
    return done


def _incident_resolved(ctx: ToolContext, rid: str, done: Check) -> Check:
    """A fix that worked on its backend, judged by its incident: did its alerts stop firing?"""
    from tools.alerts.incidents import get_incident

    with ctx.store.engine.connect() as conn:
        incident_id = (_store.followup(conn, rid) or {}).get("incident_id")
    found = get_incident(ctx.store, incident_id) if incident_id else None
    if found is None:
        return done
    inc = found[0]
    if inc.status == "resolved" or inc.firing_count == 0:
        return Check(outcome="worked", detail=f"{done.detail}; incident {inc.id} resolved")
    return Check(outcome="no_effect", detail=f"{done.detail}; incident {inc.id} still has {inc.firing_count} firing alert(s)")


def service_of(args: dict[str, Any]) -> str | None:
    """The service a fix is for: its `service`, its deployment, or its workflow's service input."""
    inputs = args.get("inputs")
    name = args.get("service") or args.get("deployment") or (inputs.get("service") if isinstance(inputs, dict) else None)
    return str(name) if name else None


def error_rate_check(ctx: ToolContext, args: dict[str, Any], done: Check, executed_at: float, now: float) -> Check:
    """A fix judged by the service's error rate (the golden signal's PromQL, tools/metrics/signals.py)
    at the execution and now: it worked only if the rate fell to TRIOPS_ACTION_ERROR_DROP of
    before or less. Prometheus down or no series: the outcome stands, with why it is unknown."""
    from tools.metrics.prometheus import PrometheusClient
    from tools.metrics.signals import signal_queries

    service = service_of(args)
    if not service:
        return done
    try:
        svc = ctx.catalog.service(service)
        query = signal_queries(service, svc.promql if svc else None)["errors"]
        with PrometheusClient.from_settings(ctx.settings) as prom:
            before, after = _rate(prom.query(query, at=executed_at)), _rate(prom.query(query, at=now))
    except TriopsError as exc:
        return Check(outcome=done.outcome, detail=f"{done.detail}; error rate unknown: {exc.message}"[:2000])
    if before is None or after is None:
        return Check(outcome=done.outcome, detail=f"{done.detail}; error rate of {service} unknown (no series)")
    change = f"error rate of {service} {before:.2%} before, {after:.2%} now"
    if before <= 0:
        return Check(outcome=done.outcome, detail=f"{done.detail}; {change}")
    if after <= before * ctx.settings.action_error_drop:
        return Check(outcome=done.outcome, detail=f"{done.detail}; {change} (dropped)")
    return Check(outcome="no_effect", detail=f"{done.detail}; {change} (did not drop)")


def _rate(samples: list[tuple[dict[str, str], float]]) -> float | None:
    vals = [v for _, v in samples if math.isfinite(v)]
    return sum(vals) if vals else None


def summary(store: Store, since: float | None = None, until: float | None = None) -> dict[str, Any]:
    """Executions and outcomes per action; incidents remediated = incidents a fix worked for."""
    from tools.actions.registry import specs

    fixing = {name for name, s in specs().items() if s.fixes}
    with store.engine.connect() as conn:
        return _store.outcome_stats(conn, since, fixing, until)


def stats_lines(store: Store, since: float | None = None, until: float | None = None,
                incidents: int | None = None) -> list[str]:
    """Lines for `/triops alerts stats` (`alerts stats 7d` is the weekly figure): remediations
    through triops, the share of the window's `incidents` they remediated (the "% of incidents
    remediated" KPI), and how often each action kind worked."""
    s = summary(store, since, until)
    share = ""
    if incidents:
        share = f" = {min(s['incidents'], incidents) / incidents:.0%} of {incidents} incident(s)"
    if not s["kinds"]:
        return ["Remediation through triops: no actions executed" + (f" (0% of {incidents} incident(s))." if incidents else ".")]
    lines = [f"Remediation through triops: {s['executed']} action(s) executed, {s['incidents']} incident(s) "
             f"remediated{share} ({s['worked']} worked, {s['no_effect']} no effect, {s['failed']} failed)."]
    for kind, c in sorted(s["kinds"].items()):
        rate = f" ({c['worked'] / c['total']:.0%})" if c["total"] else ""
        pending = f", {c['pending']} not checked yet" if c["pending"] else ""
        lines.append(f"• {kind}: {c['worked']}/{c['total']} worked{rate}, {c['no_effect']} no effect, {c['failed']} failed{pending}")
    return lines
