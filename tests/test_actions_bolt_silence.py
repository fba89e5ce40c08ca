"""Silence and expire through the REAL Bolt app against the REAL Alertmanager: the agent
suggests expiring a silence → the card names its matchers → an approver approves → the
silence is expired once → the follow-up check reads it back. Failures come from the real
Alertmanager too: a 4xx (a wrong API path), a 5xx (expiring a silence it does not know: it
answers 500 "silence not found") and a timeout (a listener that never answers)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from bot.agent.slack import APPROVE, run_followups
from tests.agent.conftest import ScriptedChatModel, call, say
from tests.agent.test_slack_agent import _click, db, runtime, start  # noqa: F401
from tests.realservices import Process, alertmanager
from tests.slack_harness import SlackHarness
from tests.test_actions_bolt import APPROVER, COMMON, Agent, updates, wait_update
from tools import approvals, audit

CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    with alertmanager(tmp_path_factory.mktemp("am"), CONFIG) as p:
        yield p


@pytest.fixture
def silent() -> Iterator[str]:
    """A loopback listener that accepts connections and never answers (a hung backend)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()


def make_silence(url: str) -> str:
    now = datetime.now(UTC)
    body = {"matchers": [{"name": "service", "value": "search", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + timedelta(hours=1)).isoformat(), "createdBy": "oncall", "comment": "maintenance"}
    resp = httpx.post(f"{url}/api/v2/silences", json=body, timeout=5)
    assert resp.status_code == 200
    return str(resp.json()["silenceID"])


def state(url: str, sid: str) -> str:
    return str(httpx.get(f"{url}/api/v2/silence/{sid}", timeout=5).json()["status"]["state"])


def test_expire_through_bolt_then_the_real_alertmanagers_failures(db: Path, tmp_path: Path, harnesses: list[SlackHarness],  # noqa: F811
                                                                  am: Process, silent: str) -> None:
    sid = make_silence(am.url)
    unknown = str(uuid.uuid4())
    silence = {"matchers": [{"name": "service", "value": "checkout"}], "minutes": 30}
    script: list[Any] = [call("suggest_action", {"action": "expire_silence", "args": {"silence_id": sid}, "reason": "maintenance is over"}), say("Suggested above: an approver decides.")]
    script += [call("suggest_action", {"action": "silence_alerts", "args": silence, "reason": "r"}), say("Suggested above: an approver decides.")] * 2
    script += [call("suggest_action", {"action": "expire_silence", "args": {"silence_id": unknown}, "reason": "r"}), say("Suggested above: an approver decides.")]
    rt = runtime(db, tmp_path, TRIOPS_ACTION_ALLOWLIST="silence_alerts,expire_silence", TRIOPS_ALERTMANAGER_URL=am.url, **COMMON)
    h = start(rt, ScriptedChatModel(script=script))
    harnesses.append(h)
    h.double.responses["usergroups.users.list"] = {"ok": True, "users": [APPROVER]}
    agent = Agent(rt, h, "55.")

    rid, ts, card = agent.suggest()
    assert f'Expire silence {sid} (service="search") now.' in str(card["blocks"])
    assert "alerts matching it notify again at once" in str(card["blocks"])
    assert state(am.url, sid) == "active"
    _click(h, APPROVE, rid, APPROVER, ts)
    wait_update(h, ts, f"Approved by <@{APPROVER}> and executed.")
    assert state(am.url, sid) == "expired"
    assert run_followups(WebClient(token="xoxb-test", base_url=h.double.base_url), rt.ctx) == 1
    assert "Follow-up check:* worked: silence is expired" in updates(h, ts)[-1]

    before = len(httpx.get(f"{am.url}/api/v2/silences", timeout=5).json())
    for url, expect in [(am.url + "/wrong-prefix", "Alertmanager refused: HTTP 404"),  # the real Alertmanager's 4xx
                        (silent, "Alertmanager did not answer within 0.5 s")]:
        rid, ts, _ = agent.suggest()
        rt.ctx.settings.alertmanager_url = url
        _click(h, APPROVE, rid, APPROVER, ts)
        assert expect in wait_update(h, ts, "and failed.")["text"]
        rt.ctx.settings.alertmanager_url = am.url
    assert len(httpx.get(f"{am.url}/api/v2/silences", timeout=5).json()) == before  # nothing was created

    rid, ts, card = agent.suggest()  # the real Alertmanager's 5xx: a silence it does not know
    assert "unknown: Alertmanager refused: HTTP 404" in str(card["blocks"])  # the dry-run says it cannot tell
    _click(h, APPROVE, rid, APPROVER, ts)
    assert 'Alertmanager refused: HTTP 500 silence not found' in wait_update(h, ts, "and failed.")["text"]
    assert approvals.get(rt.store, rid).status == "failed"  # type: ignore[union-attr]
    assert [e["action"] for e in audit.recent(rt.store, 300)].count("execute") == 4
