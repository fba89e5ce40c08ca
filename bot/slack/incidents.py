"""The incident channel: ONE message per alert incident, updated in place; details in its thread.

Updates are coalesced: an incident is re-rendered at most once every `min_interval`
seconds however many alerts join, and not at all if the card would look the same. A 429
that outlasts slack_sdk's own retries puts the incident back in the queue after
`Retry-After`; a refusal of every post (CANNOT_POST: token revoked, bot not in the channel)
keeps everything queued and backs off; any other refusal is about one message (too long,
its thread gone, an error this list does not know) and gives that message up, logged.
A first card refused for good gives up its thread too (it has none), so nothing retries it
until the incident changes again. Flapping re-fires update the card but are never re-announced in the thread.
Buttons (Acknowledge, Resolve, Show alerts) are recorded with who pressed them.

The notifier is a managed worker of `triops serve`: started by the lifespan, and stopped by
it with a deadline before which every queued update is posted (see `IncidentNotifier.stop`).

Replicas: the in-memory queue only schedules; what must be posted is in the incident outbox
(tools/alerts/outbox.py), written with the incident change. Each send claims the incident's
row first, so two replicas never post one card; the loop also picks up rows nobody alive
is posting (the replica that saved them died), and a first post carries a token in its
message metadata, so a successor finds a post whose ts was never recorded instead of
posting the card twice. The thread's messages ("N more alerts joined", "Resolved") are
planned from what the store says the thread was told and queued in the outbox under the
same claim (tools/store/outbox.py), so after a replica dies each is posted exactly once
by whichever replica posts next, never lost and never repeated.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
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
from tools.alerts import incidents, outbox
from tools.alerts.lease import process_holder
from tools.alerts.models import Alert
from tools.alerts.summary import IncidentSummary, brief, first_runbook, runbook_candidates

log = logging.getLogger("triops.slack.incidents")

MAX_TRIES = 5  # rate-limited or 5xx attempts per update before it waits for the next change
METADATA_TYPE = "triops_incident"  # event_type of the metadata a card is posted with
THREAD_METADATA_TYPE = "triops_incident_thread"  # ... and a message in its thread
POLL_SECONDS = 1.0  # how often the loop looks for outbox rows nobody alive is posting
GIVE_UP_RETRY_S = 60.0  # a card version given up on: its thread's follow-ups are tried again after this
BLOCKED_MAX_S = 300.0  # the longest back-off while Slack refuses every post (token revoked, no channel…)
# Slack errors that mean the bot cannot post at all (its token, its membership, the channel,
# the workspace): nothing is dropped, everything waits and is retried with a back-off. Any
# other non-transient refusal is about one message (msg_too_long, invalid_blocks,
# restricted_action_thread_locked, an error added to Slack's API later…): only that message
# is given up on, so an unknown error can never block an incident for good.
CANNOT_POST = frozenset({
    "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "no_permission",
    "not_in_channel", "channel_not_found", "is_archived", "missing_scope", "team_access_not_granted",
    "org_login_required", "ekm_access_denied", "enterprise_is_restricted", "access_denied",
    "not_allowed_token_type", "restricted_action", "team_not_found",
})


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
        holder: str | None = None,
        claim_ttl: float = 30.0,
        orphan_after: float | None = None,
    ):
        self.store = store
        self.holder = holder or process_holder()
        # a claim outlives one Slack call (the client's timeout): a slow post that still lands
        # must not let another replica claim the card and post it a second time
        self.claim_ttl = max(claim_ttl, float(client.timeout) + 15.0)
        self._hold: dict[str, float] = {}  # incident -> seconds Slack asked us to wait (claim kept)
        # an outbox change unposted this long was saved by a replica that is not posting it
        self.orphan_after = 2 * min_interval + 2.0 if orphan_after is None else orphan_after
        self.client = client
        self.channel = channel
        self.runbook_lookup = runbook_lookup
        self.actions: list[str] | None = None  # allowlisted actions runbook steps may be offered as
        self.on_posted = on_posted
        self.min_interval = min_interval
        self.clock = clock
        self.pending: dict[str, float] = {}  # incident id -> when it may be sent
        self.last_sent: dict[str, float] = {}
        self.last_hash: dict[str, str] = {}
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

    def poll(self) -> int:
        """Queue the outbox's changes that no live replica is posting (e.g. saved by a replica
        that died before posting); returns how many were new here."""
        ids = outbox.pending(self.store, self.holder, older_than=self.orphan_after)
        now = self.clock()
        added = 0
        with self.cond:
            for iid in ids:
                if iid not in self.pending:  # what is queued keeps its time (coalescing, Retry-After)
                    self.pending[iid] = max(now, self.last_sent.get(iid, -1e18) + self.min_interval)
                    added += 1
            if added:
                self.cond.notify_all()
        return added

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
            next_poll = 0.0
            while not self._stop:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + POLL_SECONDS
                    try:
                        self.poll()
                    except Exception:  # the store hiccuped: the next poll retries
                        log.exception("incident outbox poll failed")
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
        claim = outbox.claim(self.store, iid, self.holder, self.claim_ttl)
        if claim is None:  # another replica is sending this card now; look again in a moment
            with self.cond:
                self.pending.setdefault(iid, self.clock() + POLL_SECONDS)
                self.cond.notify_all()
            return False
        done: bool | None = False
        try:
            done = self._send_claimed(iid, claim)
        finally:
            wait = self._hold.pop(iid, None)
            if done is not False:  # sent, or given up on (a permanent error): this version is done
                outbox.complete(self.store, iid, self.holder, claim.version,
                                hold_for=None if wait is None else wait + self.claim_ttl)
            elif wait is not None:  # rate-limited: this replica retries when Slack said, nobody before
                outbox.hold(self.store, iid, self.holder, wait + self.claim_ttl)
            else:
                outbox.release(self.store, iid, self.holder)
        return done is True

    def _send_claimed(self, iid: str, claim: outbox.Claim) -> bool | None:
        """Post or update the card under the claim: True sent, False to retry, None given up."""
        found, where = incidents.get_with_message(self.store, iid)
        if found is None:
            return None
        summary, members = found
        blocks = [b.to_dict() for b in incident_card(summary, self._runbook(summary, members), actions=self.actions)]
        text = incident_text(summary)[:3000]
        digest = hashlib.sha1(json.dumps(blocks, sort_keys=True).encode(), usedforsecurity=False).hexdigest()
        shown = True  # False: Slack refused this card version (logged); its thread is still told
        try:
            if where is None and claim.post_token:  # a poster died mid-post: was the card posted?
                where = self._find_posted(iid)  # a 429 here waits for Retry-After, claim kept (below)
                if where is not None:
                    log.warning("incident %s: card found posted by a poster that died before recording it", iid)
                    incidents.set_slack_message(self.store, iid, *where)
                    self._posted(summary, *where)  # its triage died with that poster
            if where is None:
                token = uuid.uuid4().hex
                if not outbox.begin_post(self.store, iid, self.holder, token, self.claim_ttl,
                                         thread=lambda told: thread_news(told, summary, members, card_posted=False)):
                    return False  # the claim expired under us: whoever holds it now posts
                resp = self.client.chat_postMessage(
                    channel=self.channel, text=text, blocks=blocks, unfurl_links=False,
                    metadata={"event_type": METADATA_TYPE, "event_payload": {"incident_id": iid, "token": token}},
                )
                channel, ts = resp["channel"], resp["ts"]
                where = (channel, ts)  # posted: a failure from here on is its thread's, not the card's
                incidents.set_slack_message(self.store, iid, channel, ts)
                try:
                    told = self._send_thread(iid, channel, ts)
                finally:  # the card is out: its triage is queued whatever became of the thread
                    self._posted(summary, channel, ts)
                if not told:
                    return False
            else:
                channel, ts = where
                if self.last_hash.get(iid) != digest:
                    shown = self._update_card(iid, channel, ts, text, blocks)
                if not outbox.plan_thread(self.store, iid, self.holder, self.claim_ttl,
                                          lambda told: thread_news(told, summary, members, card_posted=True)):
                    return False
                if not self._send_thread(iid, channel, ts):
                    return False
        except SlackApiError as exc:
            error = exc.response.get("error")
            tries = self.failures.get(iid, 0) + 1
            # a first card is never given up to a rate limit: that would lose the page
            if _transient(exc) and (tries <= MAX_TRIES or where is None):
                retry = _retry_after(exc)
                self.failures[iid] = tries
                log.warning("slack refused incident %s update (%s); retry in %ss", iid, error, retry)
                self._hold[iid] = retry
                with self.cond:
                    self.pending[iid] = self.clock() + retry
                    self.cond.notify_all()
                return False
            if _cannot_post(exc):
                # the bot cannot post at all (token revoked, not in the channel…): keep the card
                # and its follow-ups queued, held by this replica, and look again later
                self.failures[iid] = tries
                retry = min(BLOCKED_MAX_S, 15.0 * 2 ** min(tries - 1, 5))
                log.error("slack refused incident %s update (%s): nothing is posted until that is fixed; "
                          "retry in %ss", iid, error, retry)
                self._hold[iid] = retry
                with self.cond:
                    self.pending[iid] = self.clock() + retry
                    self.cond.notify_all()
                return False
            # refused for good (message too long, card deleted…) or rate-limited MAX_TRIES times:
            # this version is given up on; what its thread still owes is tried again later,
            # for a while (outbox.thread_retry_due) and only if the card exists to carry it
            self.failures.pop(iid, None)
            if where is None:  # the card itself was refused: it has no thread to tell anything
                dropped = outbox.give_up_thread(self.store, iid)
                log.error("slack refused incident %s card (%s); not posted until the incident changes "
                          "(%d thread message(s) given up)", iid, error, dropped)
                return None
            log.error("slack refused incident %s update (%s); giving up on this update", iid, error)
            if outbox.thread_retry_due(self.store, iid):
                retry = _retry_after(exc) if _transient(exc) else GIVE_UP_RETRY_S
                self._hold[iid] = retry
                with self.cond:
                    self.pending[iid] = self.clock() + retry
                    self.cond.notify_all()
            return None
        self.failures.pop(iid, None)
        self.last_hash[iid] = digest
        self.last_sent[iid] = self.clock()
        if summary.status == "resolved":
            self._forget(iid)  # state is kept for live incidents only; the store has the rest
        return True if shown else None

    def _update_card(self, iid: str, channel: str, ts: str, text: str, blocks: list[dict]) -> bool:
        """Update the posted card (True). A refusal of this version alone (too long, bad blocks,
        card deleted) is logged and given up (False), so the thread's follow-ups still go out
        and nothing loops on it until the incident changes again."""
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
            return True
        except SlackApiError as exc:
            if _transient(exc) or _cannot_post(exc):
                raise
            log.error("slack refused incident %s card update (%s); this version is given up",
                      iid, exc.response.get("error"))
            return False

    def _find_posted(self, iid: str) -> tuple[str, str] | None:
        """The card a previous attempt posted (found by its metadata among the channel's
        latest messages: the attempt was at most a claim's lifetime ago), if Slack has it."""
        try:
            resp = self.client.conversations_history(channel=self.channel, limit=200, include_all_metadata=True)
        except SlackApiError as exc:
            if _transient(exc):  # posting now could repeat the card: look again later
                raise
            # cannot look (e.g. no channels:history): post again
            log.warning("incident %s: cannot look for an earlier post (%s)", iid, exc.response.get("error"))
            return None
        for m in resp.get("messages") or []:
            meta = m.get("metadata") or {}
            if meta.get("event_type") == METADATA_TYPE and (meta.get("event_payload") or {}).get("incident_id") == iid:
                return str(resp.get("channel") or self.channel), str(m["ts"])
        return None

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
        for d in (self.last_hash, self.last_sent):
            d.pop(iid, None)

    def _send_thread(self, iid: str, channel: str, ts: str) -> bool:
        """Post the thread's queued messages in order, each once: one a dead poster started is
        looked for in the thread first. False if the claim was lost meanwhile."""
        unsent = outbox.thread_unsent(self.store, iid)
        found = self._find_thread_posts(iid, channel, ts) if any(m.started_at for m in unsent) else {}
        for m in unsent:
            if m.token in found:
                log.warning("incident %s: thread message found posted by a poster that died before recording it", iid)
                outbox.thread_posted(self.store, iid, m.seq, found[m.token])
                continue
            if not outbox.start_thread_post(self.store, iid, m.seq, self.holder, self.claim_ttl):
                return False
            try:
                resp = self.client.chat_postMessage(
                    channel=channel, thread_ts=ts, text=m.text, unfurl_links=False,
                    metadata={"event_type": THREAD_METADATA_TYPE, "event_payload": {"incident_id": iid, "token": m.token}},
                )
            except SlackApiError as exc:
                if _transient(exc) or _cannot_post(exc):
                    raise  # retried with the card after Retry-After or a back-off (see _send_claimed)
                # this message refused for good (too long, thread gone): never let it block the ones after it
                log.error("slack refused thread message %d of incident %s (%s); not retried",
                            m.seq, iid, exc.response.get("error"))
                outbox.thread_posted(self.store, iid, m.seq, "")
                continue
            outbox.thread_posted(self.store, iid, m.seq, str(resp["ts"]))
        return True

    def _find_thread_posts(self, iid: str, channel: str, ts: str) -> dict[str, str]:
        """token -> ts of the messages this incident's thread carries (metadata on request)."""
        out: dict[str, str] = {}
        cursor: str | None = None
        try:
            while True:
                resp = self.client.conversations_replies(channel=channel, ts=ts, include_all_metadata=True,
                                                         limit=200, cursor=cursor)
                for m in resp.get("messages") or []:
                    meta = m.get("metadata") or {}
                    payload = meta.get("event_payload") or {}
                    if meta.get("event_type") == THREAD_METADATA_TYPE and payload.get("incident_id") == iid:
                        out[str(payload.get("token"))] = str(m["ts"])
                cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
                if not resp.get("has_more") or not cursor:
                    return out
        except SlackApiError as exc:
            if _transient(exc):  # a partial look would post again what it did not reach: look after Retry-After
                raise
            # cannot look (e.g. no history scope): post what is not known posted
            log.warning("incident %s: cannot look for earlier thread messages (%s)", iid, exc.response.get("error"))
            return out


def thread_news(told: set[str], s: IncidentSummary, members: list[Alert], *, card_posted: bool) -> outbox.ThreadNews:
    """What the thread has not been told yet, given what it has (`told`: "a:<fingerprint>"
    per alert announced, "m:card" once the first list is planned, "m:resolved" while the
    resolve is announced). Flapping re-fires share a fingerprint: never re-announced."""
    if card_posted and not told:  # a card posted before the thread was kept in the store: told already
        return outbox.ThreadNews([], ["m:card", *(f"a:{a.fingerprint}" for a in members),
                                      *(["m:resolved"] if s.status != "open" else [])], [])
    texts: list[str] = []
    items: list[str] = [] if "m:card" in told else ["m:card"]
    forget: list[str] = []
    new = [a for a in members if f"a:{a.fingerprint}" not in told]
    if new:
        head = "Alerts in this incident:" if "m:card" not in told else \
            f"{len(new)} more alert{'s' if len(new) > 1 else ''} joined:"
        more = [f"… and {len(new) - 60} more"] if len(new) > 60 else []
        texts += _chunks([head, *(alert_line(a) for a in new[:60]), *more])
        items += [f"a:{a.fingerprint}" for a in new]
    if s.status == "open":
        if "m:resolved" in told:
            forget.append("m:resolved")  # reopened: a later resolve is news again
    elif "m:resolved" not in told:
        by = f" by <@{s.resolved_by}>" if s.resolved_by else " (all alerts resolved, quiet period passed)"
        texts.append(f":white_check_mark: Resolved {fmt.when(s.resolved_at)}{by}.")
        items.append("m:resolved")
    return outbox.ThreadNews(texts, items, forget)


def _transient(exc: SlackApiError) -> bool:
    """Rate-limited or a Slack-side failure: worth sending again later."""
    status = getattr(exc.response, "status_code", 0)
    return bool(status == 429 or status >= 500 or exc.response.get("error") == "ratelimited")


def _cannot_post(exc: SlackApiError) -> bool:
    """Slack refuses every post the bot makes (not this message): wait, drop nothing."""
    return not _transient(exc) and exc.response.get("error") in CANNOT_POST


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
                                min_interval=rt.settings.incident_update_interval,
                                claim_ttl=rt.settings.outbox_claim_s)
    notifier.actions = rt.settings.action_allowlist
    pipeline = get_pipeline(rt)
    pipeline.outbox = True  # incident saves enqueue their card: durable across a crash
    pipeline.listeners.append(notifier.on_incidents)
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
