"""The incident channel through the real Bolt app and the Slack Web API double."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.alerts_runtime import get_pipeline
from bot.runtime import Runtime
from bot.slack.incidents import IncidentNotifier, install_notifier, register_actions
from tests.slack_harness import SlackHarness
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s
from tools.store.audit import audit_log

CHANNEL = "C_INCIDENTS"


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL), catalog=catalog())
    h = SlackHarness.start(rt, extensions=[register_actions])
    clock = FakeClock()
    # no slack_sdk retry handler here: the notifier's own Retry-After handling is under test
    client = WebClient(token="xoxb-test", base_url=h.double.base_url)
    notifier = install_notifier(rt, client)
    assert notifier is not None
    notifier.clock = clock
    notifier.runbook_lookup = lambda name, text: ("Postgres down runbook", "https://runbooks.example/postgres-down")
    yield h, notifier, clock
    h.stop()


def post_alerts(h: SlackHarness, batch: list[dict]) -> dict:
    r = h.http.post("/hooks/alerts", content=json.dumps(batch))
    assert r.status_code == 202, r.text
    return r.json()


def card_text(params: dict) -> str:
    blocks = params["blocks"] if isinstance(params["blocks"], list) else json.loads(params["blocks"])
    out = []
    for b in blocks:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        out.extend(f["text"] for f in b.get("fields", []))
        out.extend(e["text"]["text"] if isinstance(e.get("text"), dict) else e.get("text", "") for e in b.get("elements", []))
    return "\n".join(out)


def wait_until(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """A generous deadline: the first triage builds the runbook index, which on a loaded CI
    machine took longer than 10 s (a wait, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met")


def test_one_message_per_incident_updated_in_place_and_coalesced(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    d = h.double
    res = post_alerts(h, [
        {"name": "PostgresDown", "service": "postgres-main", "severity": "critical", "starts_at": "2026-11-20T10:00:00Z",
         "message": "primary not answering <!channel>"},
        {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z"},
    ])
    (iid,) = res["incidents"]
    assert notifier.run_pending() == 1
    (post,) = [c for c in d.of("chat.postMessage") if not c.params.get("thread_ts")]
    assert post.params["channel"] == CHANNEL
    text = card_text(post.params)
    assert "CRITICAL: PostgresDown on postgres-main (+1 service)" in text
    assert "*postgres-main* (score" in text and "most upstream affected service" in text
    assert "<https://runbooks.example/postgres-down|Postgres down runbook>" in text
    thread = [c for c in d.of("chat.postMessage") if c.params.get("thread_ts")]
    assert len(thread) == 1 and "&lt;!channel&gt;" in thread[0].params["text"]  # alert text is escaped
    with h.runtime.store.engine.connect() as conn:
        assert s.slack_message(conn, iid) == (CHANNEL, thread[0].params["thread_ts"])  # the card's ts, as Slack returned it

    # three more alerts join within a second: one update, not three, and only after min_interval
    for i, svc in enumerate(["checkout", "web-frontend", "auth"]):
        post_alerts(h, [{"name": "HighErrorRate", "service": svc, "starts_at": f"2026-11-20T10:02:{10 + i}Z"}])
    assert notifier.run_pending() == 0 and d.of("chat.update") == []
    clock.t += notifier.min_interval
    assert notifier.run_pending() == 1
    (upd,) = d.of("chat.update")
    assert "*Alerts*\n5 (5 firing" in card_text(upd.params)
    joined = [c for c in d.of("chat.postMessage") if c.params.get("thread_ts")]
    assert len(joined) == 2 and joined[-1].params["text"].startswith("3 more alerts joined")
    assert len([c for c in d.of("chat.postMessage") if not c.params.get("thread_ts")]) == 1  # still ONE post


def test_429_is_retried_after_retry_after(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    (iid,) = post_alerts(h, [{"name": "A", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    notifier.run_pending()
    post_alerts(h, [{"name": "B", "service": "checkout", "starts_at": "2026-11-20T10:00:30Z"}])
    h.double.fail_next("chat.update", status=429, retry_after=7)
    clock.t += 5
    assert notifier.run_pending() == 0
    assert len(h.double.of("chat.update:failed")) == 1
    assert notifier.pending[iid] == pytest.approx(clock.t + 7)
    clock.t += 6.9
    assert notifier.run_pending() == 0
    clock.t += 0.2
    assert notifier.run_pending() == 1 and len(h.double.of("chat.update")) == 1


def test_a_permanent_slack_error_is_not_retried(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    (iid,) = post_alerts(h, [{"name": "A", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    notifier.run_pending()
    post_alerts(h, [{"name": "B", "service": "checkout", "starts_at": "2026-11-20T10:00:30Z"}])
    h.double.fail_next("chat.update", status=200, body={"ok": False, "error": "message_not_found"})
    clock.t += 5
    assert notifier.run_pending() == 0
    assert iid not in notifier.pending  # given up, logged; the next change tries again


def test_buttons_record_who_and_update_the_card(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    (iid,) = post_alerts(h, [{"name": "A", "service": "payments", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    notifier.run_pending()
    ts = h.double.of("chat.postMessage")[0].params.get("ts")
    with h.runtime.store.engine.connect() as conn:
        ts = s.slack_message(conn, iid)[1]

    def press(action_id: str, user: str) -> None:
        payload = {
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "api_app_id": "A1", "token": "legacy", "trigger_id": "1.2.3", "team": {"id": "T1", "domain": "test"},
            "channel": {"id": CHANNEL, "name": "incidents"}, "message": {"ts": ts, "text": "card"},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL},
            "response_url": h.double.response_url("act"),
            "actions": [{"action_id": action_id, "block_id": f"incident:{iid}", "value": iid, "type": "button", "action_ts": "1"}],
        }
        assert h.action(payload).status_code == 200

    press("alerts_ack", "U42")
    wait_until(lambda: any(a["action"] == "ack" for a in _actions(h, iid)))
    clock.t += 10
    wait_until(lambda: notifier.run_pending() >= 0 and len(h.double.of("chat.update")) >= 1)
    assert "acknowledged by <@U42>" in card_text(h.double.of("chat.update")[-1].params)
    press("alerts_show", "U7")
    wait_until(lambda: any("requested by <@U7>" in c.params.get("text", "") for c in h.double.of("chat.postMessage")))
    press("alerts_resolve", "U9")
    wait_until(lambda: any(a["action"] == "resolve" for a in _actions(h, iid)))
    clock.t += 10
    notifier.run_pending()
    last = card_text(h.double.of("chat.update")[-1].params)
    assert "resolved" in last and "<@U9>" in last and "Acknowledge" not in last
    assert [(a["action"], a["user"]) for a in _actions(h, iid)] == [("ack", "U42"), ("show", "U7"), ("resolve", "U9")]
    resolved_posts = [c for c in h.double.of("chat.postMessage") if c.params.get("text", "").startswith(":white_check_mark: Resolved")]
    assert len(resolved_posts) == 1
    assert iid not in notifier.last_hash  # nothing kept for closed incidents
    posts_before = len(h.double.of("chat.postMessage"))
    notifier.on_incidents([iid])  # a late change after the close: the card may update, the thread stays quiet
    clock.t += 10
    assert notifier.run_pending() == 1
    assert len(h.double.of("chat.postMessage")) == posts_before


def _actions(h: SlackHarness, iid: str) -> list[dict]:
    with h.runtime.store.engine.connect() as conn:
        return s.actions_of(conn, iid)


def test_flapping_alert_updates_the_card_but_is_not_reannounced(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    base = datetime.now(UTC) - timedelta(seconds=60)  # live: the quiet period never passes
    for i in range(5):
        start = (base + timedelta(seconds=120 * i)).isoformat()
        end = (base + timedelta(seconds=120 * i + 60)).isoformat()
        post_alerts(h, [{"name": "DiskPressure", "service": "inventory", "fingerprint": "disk-1", "starts_at": start}])
        post_alerts(h, [{"name": "DiskPressure", "service": "inventory", "fingerprint": "disk-1", "status": "resolved",
                         "starts_at": start, "ends_at": end}])
        clock.t += 5
        notifier.run_pending()
    posts = [c for c in h.double.of("chat.postMessage") if not c.params.get("thread_ts")]
    thread = [c for c in h.double.of("chat.postMessage") if c.params.get("thread_ts")]
    assert len(posts) == 1 and len(thread) == 1, [c.params["text"][:80] for c in thread]  # announced once, never again
    with h.runtime.store.engine.connect() as conn:
        (inc,) = s.list_incidents(conn, status="all")
    assert inc.flapping == ["DiskPressure"]
    assert "flapping (damped): DiskPressure" in card_text(h.double.of("chat.update")[-1].params)


def test_slash_alerts_and_incident(env) -> None:  # type: ignore[no-untyped-def]
    h, _notifier, _clock = env
    (iid,) = post_alerts(h, [
        {"name": "PostgresDown", "service": "postgres-main", "starts_at": "2026-11-20T10:00:00Z"},
        {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z"},
    ])["incidents"]
    _, name = h.command("alerts payments")
    listed = h.response(name)
    assert iid in card_text(listed) and "PostgresDown on postgres-main" in card_text(listed)
    _, name = h.command(f"incident {iid[:10]}")
    shown = card_text(h.response(name))
    assert "HighErrorRate" in shown and "PostgresDown" in shown
    _, name = h.command("incident inc-nope")
    assert "No alert incident 'inc-nope'" in h.response(name)["text"]


def test_no_channel_means_no_notifier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog())
    assert install_notifier(rt, WebClient(token="x")) is None
    assert get_pipeline(rt).listeners == []
    assert isinstance(IncidentNotifier(rt.store, WebClient(token="x"), "C").min_interval, float)


def test_serve_wires_the_notifier_and_the_buttons(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.serve import build_surfaces

    settings = Settings(
        TRIOPS_HOME=tmp_path, SLACK_SIGNING_SECRET="s", SLACK_BOT_TOKEN="xoxb-1",
        TRIOPS_INCIDENT_CHANNEL=CHANNEL, SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    surfaces = build_surfaces(settings)
    router, bolt = surfaces.router, surfaces.bolt
    rt = router.runtime
    notifier = rt.ctx.resource("incident_notifier", lambda: None)
    assert isinstance(notifier, IncidentNotifier) and notifier.channel == CHANNEL
    assert notifier.on_incidents in get_pipeline(rt).listeners
    assert notifier in surfaces.workers  # started and drained by the lifespan, not here
    assert notifier.on_posted is None  # TRIOPS_AUTO_TRIAGE is off: no triage pool
    from bot.agent.slack import agent_extension
    from bot.slack.app import build_app
    from bot.slack.incident_actions import register_incident_actions

    without_buttons = build_app(router, extensions=[agent_extension])
    decisions = len(build_app(router, extensions=[register_incident_actions])._listeners) - \
        len(build_app(router, extensions=[])._listeners)  # Confirm cause, Not this, Merge, Split
    assert decisions >= 4
    # Ack, Resolve, Show alerts, and the decision buttons (and others: runbook steps, Retrain…)
    assert len(bolt._listeners) >= len(without_buttons._listeners) + 3 + decisions
    assert notifier.runbook_lookup is not None


def test_a_runbook_suggestion_renders_itself_in_the_card() -> None:
    from bot.render.alerts import incident_card
    from knowledge.models import RunbookSuggestion
    from tests.alerts_helpers import mk
    from tools.alerts.correlate import CorrelationEngine
    from tools.alerts.summary import summarise

    e = CorrelationEngine(catalog())
    e.process(mk("PostgresDown", "postgres-main", 0))
    (inc,) = e.incidents.values()
    hit = RunbookSuggestion(alert_name="PostgresDown", title="PG down", doc_id="pg", url="https://rb/pg",
                            path="pg.md", confidence=0.9, matched_by="alert_name")
    text = json.dumps([b.to_dict() for b in incident_card(summarise(inc, catalog()), hit)])
    assert "https://rb/pg" in text and "PG down" in text
    plain = json.dumps([b.to_dict() for b in incident_card(summarise(inc, catalog()), ("PG <b>", "javascript:x"))])
    assert "PG &lt;b&gt;" in plain and "javascript" not in plain  # only http(s) links


def test_auto_triage_posts_the_assistants_summary_in_the_incident_thread(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bad payments deploy, then its pods crash-loop and checkout errors: the thread gets the
    incident, payments as the probable cause, the deploy as the suspect change, and the
    crash-loop runbook — found from the incident's first alert, not from the prompt's words."""
    from bot.agent.triage import triage_pool
    from tools.delivery.models import DeploymentEvent
    from tools.store.delivery import upsert_deployments

    rt = Runtime.build(
        Settings(TRIOPS_HOME=tmp_path, TRIOPS_INCIDENT_CHANNEL=CHANNEL, TRIOPS_AUTO_TRIAGE="true"), catalog=catalog()
    )
    done = datetime(2026, 11, 20, 9, 56, tzinfo=UTC)
    with rt.store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent(
            id="payments-bad-1", service="payments", team="team-payments", environment="production",
            version="v1.999", status="success", started_at=done - timedelta(minutes=5), finished_at=done,
        )])
    h = SlackHarness.start(rt, extensions=[register_actions])
    try:
        client = WebClient(token="xoxb-test", base_url=h.double.base_url)
        pool = triage_pool(rt, client)  # as `triops serve` wires it
        pool.start()
        notifier = install_notifier(rt, client, on_posted=pool.submit_incident)
        assert notifier is not None
        (iid,) = post_alerts(h, [
            {"name": "KubePodCrashLooping", "service": "payments", "severity": "warning",
             "starts_at": "2026-11-20T10:00:00Z", "message": "Pod payments/payments-6d8f is crash looping.",
             "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"},
            {"name": "HighErrorRate", "service": "checkout", "severity": "critical", "starts_at": "2026-11-20T10:01:00Z"},
        ])["incidents"]
        assert notifier.run_pending() == 1
        (card,) = [c for c in h.double.of("chat.postMessage") if not c.params.get("thread_ts")]
        ts = card.params.get("ts") or s_ts(rt, iid)
        wait_until(lambda: any(
            c.params.get("thread_ts") == ts and "sources:" in (c.params.get("text") or "")
            for c in h.double.of("chat.postMessage")
        ))
        triage = next(c for c in h.double.of("chat.postMessage") if "sources:" in (c.params.get("text") or ""))
        text = triage.params["text"]
        assert iid in text
        assert "Probable cause: *payments*" in text
        assert "Suspect change: deployment `payments-bad-1` of payments" in text
        assert "Runbook: KubePodCrashLooping" in text and "kubepodcrashlooping" in text
        assert "`incident_get`" in text and "`runbook_search`" in text  # the sources line
        with rt.store.engine.connect() as conn:
            calls = [(r.subject, json.loads(r.detail)) for r in conn.execute(
                select(audit_log).where(audit_log.c.actor == "auto-triage", audit_log.c.action == "tool_call")
                .order_by(audit_log.c.id))]
        assert [t for t, _ in calls] == ["incident_get", "runbook_search"]
        assert calls[0][1]["args"] == {"id": iid}
        assert calls[1][1]["args"]["query"].startswith("KubePodCrashLooping Pod payments/payments-6d8f")
        pool.stop(time.monotonic() + 5)
        assert pool.done == 1 and pool.dropped == []
    finally:
        h.stop()


def s_ts(rt: Runtime, iid: str) -> str:
    with rt.store.engine.connect() as conn:
        return s.slack_message(conn, iid)[1]


def test_a_network_failure_keeps_the_incident_due_and_it_is_posted_later(env) -> None:  # type: ignore[no-untyped-def]
    h, notifier, clock = env
    real = notifier.client
    notifier.client = WebClient(token="xoxb-test", base_url="http://127.0.0.1:9/api/", timeout=2)  # nothing listens
    (iid,) = post_alerts(h, [{"name": "PostgresDown", "service": "postgres-main", "starts_at": "2026-11-20T10:00:00Z"}])["incidents"]
    assert notifier.run_pending() == 0
    assert iid in notifier.pending  # not dropped
    notifier.client = real
    clock.t += 60
    assert notifier.run_pending() == 1
    assert len([c for c in h.double.of("chat.postMessage") if not c.params.get("thread_ts")]) == 1
