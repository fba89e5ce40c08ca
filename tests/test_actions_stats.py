"""The weekly remediation figures in `/triops alerts stats 7d`, through the real Bolt app: the
share of the week's incidents remediated through triops (only fixes that worked count), and
how often each action kind worked; an action outside the week is not counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.runtime import Runtime
from tests.slack_harness import SlackHarness
from tools import approvals
from tools.alerts.summary import IncidentSummary
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store.actions import action_requests
from tools.store.alerts import save_incidents

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def executed(rt: Runtime, action: str, at: datetime, outcome: str | None, incident: str | None = None,
             status: str = "executed") -> None:
    req = approvals.create(rt.store, action=action, args={}, reason=None, suggested_by="agent", conversation_key="k")
    assert approvals.transition(rt.store, req.id, from_status="pending", to_status="approved", user="UA")
    assert approvals.transition(rt.store, req.id, from_status="approved", to_status=status, result="{}")
    with rt.store.begin() as conn:
        conn.execute(action_requests.update().where(action_requests.c.id == req.id).values(decided_at=at.timestamp()))
    approvals.save_preview(rt.store, req.id, None, incident)
    if outcome:
        approvals.record_outcome(rt.store, req.id, outcome, "checked", at.timestamp() + 300)


@pytest.fixture
def h(tmp_path: Path):  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog(), clock=lambda: NOW)
    harness = SlackHarness.start(rt)
    yield harness
    harness.stop()


def test_weekly_share_of_incidents_remediated_and_per_kind_outcomes(h: SlackHarness) -> None:
    rt = h.runtime
    day = timedelta(days=1)
    incs = [IncidentSummary(id=f"INC-{i}", status="resolved", severity="critical", title=f"t{i}", opened_at=NOW - (i + 1) * day,
                            last_alert_at=NOW - (i + 1) * day, alert_count=1, firing_count=0) for i in range(4)]
    with rt.store.begin() as conn:
        save_incidents(conn, incs)
    executed(rt, "restart_deployment", NOW - 1 * day, "worked", "INC-0")  # remediated INC-0
    executed(rt, "undo_deployment", NOW - 2 * day, "no_effect", "INC-1")  # a fix that did not work
    executed(rt, "deploy_webhook", NOW - 2 * day, "worked", "INC-1")  # ...then one that did
    executed(rt, "silence_alerts", NOW - 3 * day, "worked", "INC-2")  # a silence remediates nothing
    executed(rt, "restart_deployment", NOW - 3 * day, None, "INC-3", status="failed")
    executed(rt, "restart_deployment", NOW - 20 * day, "worked", "INC-OLD")  # outside the week

    _resp, name = h.command("alerts stats 7d")
    text = json.dumps(h.response(name))
    assert "Remediation" in text
    assert "5 action(s) executed" not in text and "4 action(s) executed, 2 incident(s) remediated = 50% of 4 incident(s)" in text
    assert "restart_deployment: 1/2 worked (50%), 0 no effect, 1 failed" in text
    assert "undo_deployment: 0/1 worked (0%), 1 no effect, 0 failed" in text
    assert "deploy_webhook: 1/1 worked (100%)" in text and "silence_alerts: 1/1 worked (100%)" in text

    _resp, name = h.command("alerts stats 30d")
    assert "3 incident(s) remediated" in json.dumps(h.response(name))  # INC-OLD is in the month
