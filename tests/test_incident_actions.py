"""A human's decisions on the incident card, end to end through the real Bolt app (signed
requests, block_actions payloads as Slack sends them): confirming the suspect deployment
makes it a DORA failure whose recovery the incident's resolution ends; "Not this" undoes
it; merge and split from the card; every decision recorded and audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.alerts_runtime import get_pipeline
from bot.runtime import Runtime
from bot.slack.incident_actions import register_incident_actions
from bot.slack.incidents import install_notifier, register_actions
from tests.slack_harness import SlackHarness
from tests.test_alerts_slack import card_text, post_alerts, wait_until
from tools.audit import recent as audit_log
from tools.delivery.models import DeploymentEvent
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s
from tools.store import delivery as d

CHANNEL = "C_INCIDENTS"
FIRST = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL), catalog=catalog(),
                       clock=lambda: FIRST + timedelta(hours=2))
    with rt.store.engine.begin() as conn:
        d.upsert_deployments(conn, [DeploymentEvent(id="deploy-pay-42", service="payments", status="success",
                                                    finished_at=FIRST - timedelta(minutes=12), version="v42")])
    h = SlackHarness.start(rt, extensions=[register_actions, register_incident_actions])
    client = WebClient(token="xoxb-test", base_url=h.double.base_url)
    notifier = install_notifier(rt, client)
    assert notifier is not None
    notifier.clock = Clock()
    notifier.runbook_lookup = lambda name, text: None
    yield h, notifier
    h.stop()


def press(h: SlackHarness, action_id: str, value: str, user: str, *, ts: str = "1.1", select: bool = False) -> None:
    action: dict = {"action_id": action_id, "block_id": "b", "action_ts": "1"}
    if select:
        action.update(type="static_select", selected_option={"text": {"type": "plain_text", "text": value}, "value": value})
    else:
        action.update(type="button", value=value, text={"type": "plain_text", "text": "x"})
    payload = {
        "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3", "team": {"id": "T1", "domain": "test"},
        "channel": {"id": CHANNEL, "name": "incidents"}, "message": {"ts": ts, "text": "card"},
        "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
        "response_url": h.double.response_url("act"), "actions": [action],
    }
    assert h.action(payload).status_code == 200


def thread_texts(h: SlackHarness) -> list[str]:
    return [c.params.get("text", "") for c in h.double.of("chat.postMessage") if c.params.get("thread_ts")]


def dora_text(h: SlackHarness) -> str:
    _resp, name = h.command("dora payments 30d")
    return json.dumps(h.response(name))


def test_confirm_cause_feeds_dora_and_the_resolution_ends_the_recovery_and_not_this_undoes_it(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier = env
    (iid,) = post_alerts(h, [{"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"},
                             {"name": "HighErrorRate", "service": "checkout", "starts_at": "2026-11-20T10:01:00Z"}])["incidents"]
    notifier.run_pending()
    card = h.double.of("chat.postMessage")[0].params
    text = card_text(card)
    assert "deploy-pay-42" in text and "Confirm cause" in text and "Not this" in text and "Merge…" in text
    before = dora_text(h)
    assert "from confirmed incidents" not in before

    press(h, "alerts_confirm_cause", f"{iid}|deploy-pay-42", "U42")
    wait_until(lambda: any("confirmed deployment `deploy-pay-42`" in t for t in thread_texts(h)))
    with h.runtime.store.engine.connect() as conn:
        assert d.confirmed_cause(conn, iid) == "deploy-pay-42"
        (dec,) = s.decisions_of(conn, iid)
    audit = [r for r in audit_log(h.runtime.store) if r["action"] == "incident.confirm_cause"]
    assert (dec["action"], dec["target"], dec["by"]) == ("confirm_cause", "deploy-pay-42", "U42")
    assert audit and audit[0]["actor"] == "U42"
    after = dora_text(h)
    assert "1 from confirmed incidents" in after and "(1 of 1" in after
    assert "0 recovered, 1 open" in after  # the failure is open until the incident resolves

    press(h, "alerts_resolve", iid, "U9")
    wait_until(lambda: "1 recovered, 0 open" in dora_text(h))

    press(h, "alerts_reject_cause", f"{iid}|deploy-pay-42", "U42")
    wait_until(lambda: any("undid the confirmation" in t for t in thread_texts(h)))
    with h.runtime.store.engine.connect() as conn:
        assert d.confirmed_cause(conn, iid) is None
        assert [x["action"] for x in s.decisions_of(conn, iid)] == ["confirm_cause", "undo_cause"]
    final = dora_text(h)
    assert "from confirmed incidents" not in final and "(0 of 1" in final


def test_a_change_that_is_not_the_suspect_cannot_be_confirmed(env) -> None:  # type: ignore[no-untyped-def]
    h, _notifier = env
    (iid,) = post_alerts(h, [{"name": "A", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    press(h, "alerts_confirm_cause", f"{iid}|deploy-other", "U1")
    wait_until(lambda: any("is not the suspect deployment" in t for t in thread_texts(h)))
    with h.runtime.store.engine.connect() as conn:
        assert d.confirmed_cause(conn, iid) is None and s.decisions_of(conn, iid) == []


def test_merge_and_split_from_the_card_keep_ids_resolvable_and_record_who(env) -> None:  # type: ignore[no-untyped-def]
    h, _notifier = env
    (a,) = post_alerts(h, [{"name": "SearchErrors", "service": "search", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    (b,) = post_alerts(h, [{"name": "AuthErrors", "service": "auth", "starts_at": "2026-11-20T10:00:20Z"}])["incidents"]
    assert a != b
    press(h, "alerts_merge_pick", a, "U5")
    wait_until(lambda: any(c.params.get("blocks") for c in h.double.of("chat.postMessage") if c.params.get("thread_ts")))
    picker = [c for c in h.double.of("chat.postMessage") if c.params.get("thread_ts") and c.params.get("blocks")][-1]
    blocks = picker.params["blocks"] if isinstance(picker.params["blocks"], list) else json.loads(picker.params["blocks"])
    options = [o["value"] for o in blocks[0]["accessory"]["options"]]
    assert f"{a}|{b}" in options
    press(h, "alerts_merge_into", f"{a}|{b}", "U5", select=True)
    wait_until(lambda: any(f"merged `{b}` into `{a}`" in t for t in thread_texts(h)))
    with h.runtime.store.engine.connect() as conn:
        merged, members = s.get_incident(conn, b)  # the absorbed id leads to the merged incident
        assert merged.id == a and {m.service for m in members} == {"search", "auth"}
        (dec,) = s.decisions_of(conn, a)
        assert (dec["action"], dec["target"], dec["by"]) == ("merge", b, "U5")

    press(h, "alerts_split_service", f"{a}|auth", "U6", select=True)
    wait_until(lambda: any("split auth out of" in t for t in thread_texts(h)))
    rec = get_pipeline(h.runtime).engine.merges[-1]
    with h.runtime.store.engine.connect() as conn:
        _left, left_members = s.get_incident(conn, a)
        _right, right_members = s.get_incident(conn, rec.into)
        assert {m.service for m in left_members} == {"search"} and {m.service for m in right_members} == {"auth"}
        (split,) = s.decisions_of(conn, rec.into)
        assert (split["action"], split["target"], split["by"]) == ("split", a, "U6")
    actions = [r["action"] for r in audit_log(h.runtime.store)]
    assert "incident.merge" in actions and "incident.split" in actions
