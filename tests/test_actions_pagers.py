"""PagerDuty and Opsgenie actions behind approval, against loopback doubles of their APIs:
the documented requests, the follow-up check, and 4xx / 5xx / timeout as clean failures with
no credential anywhere (result, audit, logs)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.agent import actions
from bot.agent.actions import Suggestion
from tests.doubles.opsgenie import KEY, OpsgenieDouble
from tests.doubles.pagerduty import FROM, TOKEN, PagerDutyDouble
from tools import approvals, audit
from tools.actions import outcomes
from tools.contract import ToolContext, ToolRegistry
from tools.errors import ToolError
from tools.settings import Settings

ALLOW = "pagerduty_incident_status,pagerduty_add_note,opsgenie_alert"


@pytest.fixture
def pd() -> Iterator[PagerDutyDouble]:
    with PagerDutyDouble() as d:
        yield d  # type: ignore[misc]


@pytest.fixture
def og() -> Iterator[OpsgenieDouble]:
    with OpsgenieDouble() as d:
        yield d  # type: ignore[misc]


def configure(ctx: ToolContext, tmp_path: Path, **over: Any) -> None:
    env = {"TRIOPS_ACTION_ALLOWLIST": ALLOW, "TRIOPS_ACTION_VERIFY_DELAY": "0", "TRIOPS_ACTION_HTTP_TIMEOUT": "0.5", **over}
    ctx.settings = Settings(_env_file=None, home=tmp_path, database_url=None, **env)


def run(ctx: ToolContext, action: str, args: dict[str, Any]) -> actions.Decision:
    reg = ToolRegistry()
    s = actions.validate(reg, ctx.settings, Suggestion(action=action, args=args, reason="r"))
    rid = actions.record(ctx.store, s, key="k", by="agent", actor="U1", ctx=ctx).id
    return actions.decide(reg, ctx, ctx.settings, rid, "UA", True, lambda u: u == "UA")


def no_secret(ctx: ToolContext, caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    seen = str(audit.recent(ctx.store, 100)) + caplog.text
    with ctx.store.engine.connect() as conn:
        from sqlalchemy import text

        seen += str(conn.execute(text("select * from action_requests")).all())
        seen += str(conn.execute(text("select * from action_followups")).all())
    for s in secrets:
        assert s not in seen


def test_pagerduty_ack_resolve_note(ctx: ToolContext, tmp_path: Path, pd: PagerDutyDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure(ctx, tmp_path, TRIOPS_PAGERDUTY_API_URL=pd.url, TRIOPS_PAGERDUTY_TOKEN=TOKEN, TRIOPS_PAGERDUTY_FROM=FROM)
    d = run(ctx, "pagerduty_incident_status", {"incident_id": "PT4KHLK", "status": "acknowledged"})
    assert d.ok, d.message
    (put,) = pd.calls("PUT")
    assert put.path == "/incidents/PT4KHLK" and put.body == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert put.headers["authorization"] == f"Token token={TOKEN}" and put.headers["from"] == FROM
    assert put.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    follow = approvals.followup(ctx.store, d.request.id)  # type: ignore[union-attr]
    assert follow and "checkout HighErrorRate" in follow["preview"]["effect"] and "triggered" in follow["preview"]["effect"]

    n = run(ctx, "pagerduty_add_note", {"incident_id": "PT4KHLK", "content": "Rolled back checkout-d3 via triops."})
    assert n.ok
    (post,) = pd.calls("POST")
    assert post.path == "/incidents/PT4KHLK/notes" and post.body == {"note": {"content": "Rolled back checkout-d3 via triops."}}
    assert run(ctx, "pagerduty_incident_status", {"incident_id": "PT4KHLK", "status": "resolved"}).ok
    checks = dict(outcomes.run_due_checks(ctx))
    assert [c.outcome for c in checks.values()] == ["worked", "worked", "worked"]
    assert pd.incidents["PT4KHLK"]["status"] == "resolved"
    no_secret(ctx, caplog, TOKEN)


def test_pagerduty_failures(ctx: ToolContext, tmp_path: Path, pd: PagerDutyDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    args = {"incident_id": "PT4KHLK", "status": "acknowledged"}
    configure(ctx, tmp_path, TRIOPS_PAGERDUTY_API_URL=pd.url, TRIOPS_PAGERDUTY_TOKEN="wrong-SECRET", TRIOPS_PAGERDUTY_FROM=FROM)
    d = run(ctx, "pagerduty_incident_status", args)  # 4xx
    assert d.status == "failed" and "HTTP 401 Unauthorized" in d.message
    configure(ctx, tmp_path, TRIOPS_PAGERDUTY_API_URL=pd.url, TRIOPS_PAGERDUTY_TOKEN=TOKEN, TRIOPS_PAGERDUTY_FROM=FROM)
    d = run(ctx, "pagerduty_incident_status", {"incident_id": "PNOPE", "status": "acknowledged"})
    assert d.status == "failed" and "HTTP 404" in d.message
    pd.fail_with = (503, {"error": {"message": "Service Unavailable"}})
    d = run(ctx, "pagerduty_incident_status", args)  # 5xx
    assert d.status == "failed" and "HTTP 503" in d.message
    pd.fail_with, pd.stall = None, 1.5
    d = run(ctx, "pagerduty_incident_status", args)  # timeout
    assert d.status == "failed" and "did not answer within 0.5 s" in d.message
    assert outcomes.summary(ctx.store)["failed"] == 4
    no_secret(ctx, caplog, TOKEN, "wrong-SECRET")


def test_pagerduty_needs_its_settings(ctx: ToolContext, tmp_path: Path) -> None:
    configure(ctx, tmp_path, TRIOPS_PAGERDUTY_TOKEN=TOKEN)  # no From: address
    with pytest.raises(ToolError, match="TRIOPS_PAGERDUTY_FROM"):
        actions.validate(ToolRegistry(), ctx.settings, Suggestion(action="pagerduty_add_note", args={"incident_id": "PT4KHLK", "content": "x"}))
    with pytest.raises(ToolError, match="Bad arguments"):
        actions.validate(ToolRegistry(), ctx.settings, Suggestion(action="pagerduty_incident_status", args={"incident_id": "../../users", "status": "resolved"}))


def test_opsgenie_ack_close_async(ctx: ToolContext, tmp_path: Path, og: OpsgenieDouble, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    configure(ctx, tmp_path, TRIOPS_OPSGENIE_API_URL=og.url, TRIOPS_OPSGENIE_KEY=KEY)
    aid = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
    d = run(ctx, "opsgenie_alert", {"alert_id": aid, "op": "acknowledge"})
    assert d.ok and d.request is not None and "accepted the acknowledge" in (d.request.result or "")
    (post,) = og.calls("POST")
    assert post.path == f"/v2/alerts/{aid}/acknowledge" and post.query == {"identifierType": "id"}
    assert post.headers["authorization"] == f"GenieKey {KEY}" and post.body["user"] == "triops"
    assert run(ctx, "opsgenie_alert", {"alert_id": "no-such-alert", "op": "close"}).ok  # 202: accepted, fails later
    checks = outcomes.run_due_checks(ctx)
    assert sorted(c.outcome for _, c in checks) == ["failed", "worked"]
    assert og.alerts[aid] == "acked"
    og.fail_with = (500, {"message": "Internal error", "took": 0.0, "requestId": "x"})
    assert "HTTP 500 Internal error" in run(ctx, "opsgenie_alert", {"alert_id": aid, "op": "close"}).message
    og.fail_with, og.stall = None, 1.5
    assert "did not answer" in run(ctx, "opsgenie_alert", {"alert_id": aid, "op": "close"}).message
    configure(ctx, tmp_path, TRIOPS_OPSGENIE_API_URL=og.url, TRIOPS_OPSGENIE_KEY="bad-SECRET")
    og.stall = 0
    assert "HTTP 401" in run(ctx, "opsgenie_alert", {"alert_id": aid, "op": "close"}).message
    no_secret(ctx, caplog, KEY, "bad-SECRET")
