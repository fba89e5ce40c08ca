"""The incident channel: ONE message per alert incident, updated in place; details in its thread.

Updates are coalesced: an incident is re-rendered at most once every `min_interval`
seconds however many alerts join, and not at all if the card would look the same. A 429
that outlasts slack_sdk's own retries puts the incident back in the queue after
`Retry-After`. Flapping re-fires update the card but are never re-announced in the thread.
Buttons (Acknowledge, Resolve, Show alerts) are recorded with who pressed them.

The notifier is a managed worker of `triops serve`: started by the lifespan, and stopped by
it with a deadline before which every queued update is posted (see `IncidentNotifier.stop`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts_runtime import get_pipeline
from bot.render import fmt
from bot.render.alerts import ACK, RESOLVE, SHOW, RunbookLookup, esc, incident_card, incident_text
from bot.router import Router
from bot.runtime import Runtime
from tools.alerts import incidents
from tools.alerts.models import Alert
from tools.alerts.summary import IncidentSummary, brief, first_runbook, runbook_candidates

log = logging.getLogger("triops.slack.incidents")

MAX_TRIES = 5  # rate-limited or 5xx attempts per update before it waits for the next change


def alert_line(a: Alert) -> str:
    state = "resolved" if a.status == "resolved" else "firing"
    return f"• {fmt.when(a.starts_at)} *{esc(a.name, 120)}* on {esc(a.service or '?')} ({a.severity}, {state}) — {esc(a.message, 200)}"


def _chunks(lines: list[str], size: int = 2800) -> list[str]:
    out, cur = [], ""
    for line in lines:
        if len(cur) + len(line) + 1 > size and cur:
            out.append(cur)
            cur = ""
        cur += line + "\n"
    if cur:
        out.append(cur)
    return out


# Called once per incident after its first post: (incident, channel, message ts). It runs on
# the notifier's thread, so it must only hand the work on (e.g. `TriagePool.submit_incident`).
OnPosted = Callable[[IncidentSummary, str, str], Any]


class IncidentNotifier:
    name = "incident-notifier"

    def __init__(
        self,
        store: Any,
        client: WebClient,
        channel: str,
        *,
        runbook_lookup: RunbookLookup | None = None,
        on_posted: OnPosted | None = None,
        min_interval: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.client = client
        self.channel = channel
        self.runbook_lookup = runbook_lookup
        self.on_posted = on_posted
        self.min_interval = min_interval
        self.clock = clock
        self.pending: dict[str, float] = {}  # incident id -> when it may be sent
        self.last_sent: dict[str, float] = {}
        self.last_hash: dict[str, str] = {}
        self.told: dict[str, set[str]] = {}  # fingerprints already announced in the thread
        self.told_resolved: set[str] = set()
        self.failures: dict[str, int] = {}
        self.cond = threading.Condition()
        self._sending = threading.Lock()  # the loop and the shutdown drain never send at once
        self._stop = False
        self._thread: threading.Thread | None = None

    # --- queue ------------------------------------------------------------------------------
    def on_incidents(self, incident_ids: list[str]) -> None:
        now = self.clock()
        with self.cond:
            for iid in incident_ids:
                due = max(now, self.last_sent.get(iid, -1e18) + self.min_interval)
                self.pending[iid] = min(self.pending.get(iid, due), due)
            self.cond.notify_all()

    def depth(self) -> int:
        """Incident updates waiting to be posted (/metrics)."""
        with self.cond:
            return len(self.pending)

    def run_pending(self) -> int:
        """Send every incident whose turn has come; returns how many were sent."""
        with self._sending:
            return self._run_due()

    def _run_due(self) -> int:
        now = self.clock()
        with self.cond:
            due = sorted(i for i, t in self.pending.items() if t <= now)
            for iid in due:
                del self.pending[iid]
        sent = 0
        for iid in due:
            try:
                if self._send(iid):
                    sent += 1
            except Exception as exc:  # network down, timeout…: keep the page, try again later
                tries = self.failures.get(iid, 0) + 1
                self.failures[iid] = tries
                retry = min(60.0, 5.0 * tries)
                log.warning("incident %s not sent (%s); retry in %ss", iid, exc, retry)
                with self.cond:
                    self.pending.setdefault(iid, self.clock() + retry)
                    self.cond.notify_all()
        return sent

    def start(self) -> None:
        def loop() -> None:
            while not self._stop:
                with self.cond:
                    wait = min((t for t in self.pending.values()), default=None)
                    timeout = 1.0 if wait is None else max(0.0, min(1.0, wait - self.clock()))
                    if timeout > 0:
                        self.cond.wait(timeout)
                try:
                    self.run_pending()
                except Exception:  # never let the notifier thread die; the trace is logged
                    log.exception("incident notifier failed")

        # daemon only so that a Slack call hung past the shutdown deadline cannot keep the
        # process alive; `stop` is what ends it, after posting what is queued
        self._thread = threading.Thread(target=loop, name="triops-incident-notifier", daemon=True)
        self._thread.start()

    def stop(self, deadline: float | None = None) -> None:
        """Stop the loop, then post every queued update before `deadline` (time.monotonic()).

        At shutdown coalescing no longer matters: updates not yet due are sent at once; a 429
        is retried after its Retry-After if that fits. What is still unsent at the deadline
        is logged by incident id, never dropped in silence.
        """
        deadline = time.monotonic() + 5.0 if deadline is None else deadline
        self._stop = True
        with self.cond:
            self.cond.notify_all()
        if self._thread:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.drain(deadline)

    def drain(self, deadline: float) -> int:
        """Send everything queued, due or not, until `deadline`; returns how many were sent."""
        sent, first = 0, True
        while True:
            with self.cond:
                left = deadline - time.monotonic()
                if not self.pending:
                    return sent
                if left <= 0:
                    ids = sorted(self.pending)
                    log.warning("shutdown deadline passed: %d incident update(s) not posted to Slack: %s",
                                len(ids), ", ".join(ids))
                    return sent
                if not first:  # what is left was re-queued by a failure: wait for its retry time
                    wait = min(self.pending.values()) - self.clock()
                    if wait > 0:
                        self.cond.wait(min(wait, left))
                        continue
                now = self.clock()
                for iid in self.pending:
                    self.pending[iid] = min(self.pending[iid], now)
            first = False
            if not self._sending.acquire(timeout=max(0.01, deadline - time.monotonic())):
                continue  # the loop thread is stuck in a send: the deadline check reports it
            try:
                sent += self._run_due()
            finally:
                self._sending.release()

    # --- sending ------------------------------------------------------------------------------
    def _runbook(self, s: IncidentSummary, members: list[Alert]) -> Any:
        """The hook's answer as it is: a (title, url) pair or a model with a renderer."""
        if self.runbook_lookup is None or not members:
            return None
        try:
            return first_runbook(self.runbook_lookup, runbook_candidates(s, [brief(a) for a in members]))
        except Exception as exc:  # a runbook search failure must not block the page
            log.warning("runbook lookup failed: %s", exc)
            return None

    def _send(self, iid: str) -> bool:
        found, where = incidents.get_with_message(self.store, iid)
        if found is None:
            return False
        summary, members = found
        blocks = [b.to_dict() for b in incident_card(summary, self._runbook(summary, members))]
        text = incident_text(summary)[:3000]
        digest = hashlib.sha1(json.dumps(blocks, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        try:
            if where is None:
                resp = self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks, unfurl_links=False)
                channel, ts = resp["channel"], resp["ts"]
                incidents.set_slack_message(self.store, iid, channel, ts)
                self.told[iid] = set()
                self._thread_news(iid, channel, ts, summary, members, first=True)
                self._posted(summary, channel, ts)
            else:
                channel, ts = where
                if iid not in self.told:  # after a restart: what is on the card was told already
                    self.told[iid] = {a.fingerprint for a in members}
                    if summary.status == "resolved":
                        self.told_resolved.add(iid)
                if self.last_hash.get(iid) != digest:
                    self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
                self._thread_news(iid, channel, ts, summary, members, first=False)
        except SlackApiError as exc:
            error = exc.response.get("error")
            status = getattr(exc.response, "status_code", 0)
            tries = self.failures.get(iid, 0) + 1
            if (status == 429 or status >= 500 or error == "ratelimited") and tries <= MAX_TRIES:
                retry = _retry_after(exc)
                self.failures[iid] = tries
                log.warning("slack refused incident %s update (%s); retry in %ss", iid, error, retry)
                with self.cond:
                    self.pending[iid] = self.clock() + retry
                    self.cond.notify_all()
            else:  # a permanent error (no such channel, message deleted…): retrying won't help
                self.failures.pop(iid, None)
                log.warning("slack refused incident %s update (%s); giving up on this update", iid, error)
            return False
        self.failures.pop(iid, None)
        self.last_hash[iid] = digest
        self.last_sent[iid] = self.clock()
        if summary.status == "resolved" and iid in self.told_resolved:
            self._forget(iid)  # state is kept for live incidents only; the store has the rest
        return True

    def _posted(self, summary: IncidentSummary, channel: str, ts: str) -> None:
        """Tell `on_posted` (e.g. queue the triage). The card is out whatever it does, so its
        failure is logged with the trace and the card is not re-posted."""
        if self.on_posted is None:
            return
        try:
            self.on_posted(summary, channel, ts)
        except Exception:
            log.exception("on_posted failed for incident %s", summary.id)

    def _forget(self, iid: str) -> None:
        """After a restart-like rebuild the thread is not re-announced (see `_send`)."""
        for d in (self.last_hash, self.told, self.last_sent):
            d.pop(iid, None)
        self.told_resolved.discard(iid)

    def _thread_news(
        self, iid: str, channel: str, ts: str, s: IncidentSummary, members: list[Alert], *, first: bool
    ) -> None:
        told = self.told.setdefault(iid, set())
        new = [a for a in members if a.fingerprint not in told]
        if new:
            head = "Alerts in this incident:" if first else f"{len(new)} more alert{'s' if len(new) > 1 else ''} joined:"
            for chunk in _chunks([head, *(alert_line(a) for a in new[:60])] + ([f"… and {len(new) - 60} more"] if len(new) > 60 else [])):
                self.client.chat_postMessage(channel=channel, thread_ts=ts, text=chunk, unfurl_links=False)
            told.update(a.fingerprint for a in new)
        if s.status == "open":
            self.told_resolved.discard(iid)  # reopened: a later resolve is news again
        elif iid not in self.told_resolved:
            by = f" by <@{s.resolved_by}>" if s.resolved_by else " (all alerts resolved, quiet period passed)"
            self.client.chat_postMessage(channel=channel, thread_ts=ts, text=f":white_check_mark: Resolved {fmt.when(s.resolved_at)}{by}.")
            self.told_resolved.add(iid)


def _retry_after(exc: SlackApiError) -> float:
    headers = getattr(exc.response, "headers", {}) or {}
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(1.0, float(v[0] if isinstance(v, list) else v))
            except (TypeError, ValueError):
                break
    return 5.0


# --- wiring ------------------------------------------------------------------------------------
def install_notifier(
    rt: Runtime,
    client: WebClient,
    *,
    runbook_lookup: RunbookLookup | None = None,
    on_posted: OnPosted | None = None,
) -> IncidentNotifier | None:
    """Post incidents to TRIOPS_INCIDENT_CHANNEL (if set) as the pipeline reports them.

    Only wiring: the notifier's thread is started (and drained) by whoever owns the
    lifecycle — `triops serve`'s lifespan — or driven by hand with `run_pending()`.
    """
    channel = rt.settings.incident_channel
    if not channel:
        log.info("TRIOPS_INCIDENT_CHANNEL not set: incidents are not posted to Slack")
        return None
    notifier = IncidentNotifier(rt.store, client, channel, runbook_lookup=runbook_lookup, on_posted=on_posted,
                                min_interval=rt.settings.incident_update_interval)
    get_pipeline(rt).listeners.append(notifier.on_incidents)
    rt.ctx.resource("incident_notifier", lambda: notifier)
    return notifier


def register_actions(app: App, router: Router) -> None:
    """Bolt listeners for the card's buttons (a Bolt `Extension`)."""
    rt = router.runtime

    def _who_and_what(body: dict) -> tuple[str, str]:
        return body.get("user", {}).get("id", "?"), (body.get("actions") or [{}])[0].get("value", "")

    @app.action(ACK)
    def on_ack(ack: Ack, body: dict) -> None:
        ack()
        user, iid = _who_and_what(body)
        if not get_pipeline(rt).acknowledge(iid, user):
            log.warning("ack for unknown incident %s by %s", iid, user)

    @app.action(RESOLVE)
    def on_resolve(ack: Ack, body: dict) -> None:
        ack()
        user, iid = _who_and_what(body)
        if not get_pipeline(rt).resolve_by_hand(iid, user):
            log.warning("resolve for unknown incident %s by %s", iid, user)

    @app.action(SHOW)
    def on_show(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        user, iid = _who_and_what(body)
        pipeline = get_pipeline(rt)
        if not pipeline.record_view(iid, user):
            return
        found = incidents.get_incident(rt.store, iid)
        if found is None:
            return
        _summary, members = found
        channel = body.get("channel", {}).get("id") or rt.settings.incident_channel
        ts = body.get("message", {}).get("ts")
        if not channel:
            return
        lines = [f"Alerts of `{iid}`, requested by <@{user}>:", *(alert_line(a) for a in members[:80])]
        for chunk in _chunks(lines):
            client.chat_postMessage(channel=channel, thread_ts=ts, text=chunk, unfurl_links=False)
