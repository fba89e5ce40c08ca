"""Automatic triage of a new incident (TRIOPS_AUTO_TRIAGE): the agent's summary in its thread.

The notifier hands each newly posted incident to a `TriagePool`; the pool's workers call
`triage_incident`, and the thread of that message becomes a conversation like any other, so
people can ask follow-ups. The pool is bounded twice: at most TRIOPS_TRIAGE_CONCURRENCY
conversations run at once and at most TRIOPS_TRIAGE_QUEUE wait, so an alert storm of 500
incidents never starts 500 LLM conversations; beyond the queue an incident is dropped
untriaged, with a WARNING naming it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient

from bot.router import Asker
from bot.runtime import Runtime

if TYPE_CHECKING:
    from tools.alerts.summary import IncidentSummary

log = logging.getLogger("triops.agent.triage")


def triage_incident(
    rt: Runtime,
    client: WebClient,
    *,
    channel: str,
    thread_ts: str,
    title: str,
    services: list[str] | None = None,
    incident_id: str | None = None,
) -> bool:
    """Post the agent's triage in the incident's thread; False when the setting is off."""
    if not rt.settings.auto_triage:
        return False
    import prompts
    from bot.agent.injection import WITHHELD, looks_like_injection
    from bot.agent.slack import post_suggestions
    from bot.agent.surface import assistant_for, to_reply
    from bot.render import to_blocks, to_text

    if looks_like_injection(title):
        title = WITHHELD
    question = prompts.render("auto_triage", title=title[:300], services=services or [], incident_id=incident_id)
    asker = Asker(user="triops", surface="slack", channel=channel, thread_ts=thread_ts)
    try:
        ans = assistant_for(rt).ask(question, key=asker.conversation_key, actor="auto-triage", intent="triage")
    except Exception:  # triage is a help, never a reason for the alert path to fail
        log.exception("auto-triage failed for %s", incident_id)
        return False
    reply = to_reply(ans)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=to_text(reply)[:3000], blocks=to_blocks(reply))
    post_suggestions(client, rt.store, asker.conversation_key, channel, thread_ts, rt.ctx)
    return True


@dataclass(frozen=True)
class TriageJob:
    """One incident to triage, where its Slack message is."""

    channel: str
    thread_ts: str
    title: str
    services: list[str] = field(default_factory=list)
    incident_id: str | None = None

    @classmethod
    def of(cls, s: IncidentSummary, channel: str, ts: str) -> TriageJob:
        return cls(channel=channel, thread_ts=ts, title=s.title, services=list(s.services), incident_id=s.id)


class TriagePool:
    """A fixed number of worker threads over a bounded queue of `TriageJob`s.

    `submit` never blocks (the notifier calls it on its posting loop): a full queue drops the
    job with a WARNING. `stop(deadline)` takes no new jobs, lets the workers finish the running
    and queued ones until the deadline, then drops (and logs) what is left.
    """

    name = "auto-triage"

    def __init__(self, run: Callable[[TriageJob], Any], *, concurrency: int = 2, queue_size: int = 50):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.run = run
        self.concurrency = concurrency
        self.queue_size = queue_size
        self._jobs: deque[TriageJob] = deque()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._closed = False
        self.active = 0
        self.max_active = 0  # high-water mark of conversations running at once
        self.done = 0
        self.dropped: list[TriageJob] = []

    def depth(self) -> int:
        """Triage jobs waiting for a worker (/metrics)."""
        with self._cond:
            return len(self._jobs)

    def submit(self, job: TriageJob) -> bool:
        """Queue `job`; False (and a WARNING) when the queue is full or the pool is stopping."""
        with self._cond:
            idle = max(0, self.concurrency - self.active)  # jobs an idle worker is about to take
            if self._closed or len(self._jobs) >= self.queue_size + idle:
                why = "shutting down" if self._closed else f"{len(self._jobs) - idle} incidents already waiting"
                self.dropped.append(job)
                log.warning("auto-triage of incident %s dropped (%s; TRIOPS_TRIAGE_QUEUE=%d)",
                            job.incident_id, why, self.queue_size)
                return False
            self._jobs.append(job)
            self._cond.notify()
            return True

    def submit_incident(self, s: IncidentSummary, channel: str, ts: str) -> bool:
        """The notifier's `on_posted`."""
        return self.submit(TriageJob.of(s, channel, ts))

    def start(self) -> None:
        for i in range(self.concurrency):
            # daemon only so that an LLM call hung past the shutdown deadline cannot keep the
            # process alive; `stop` is what ends the workers
            t = threading.Thread(target=self._work, name=f"triops-triage-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            try:
                self.run(job)
            except Exception:  # one incident's triage failing must not stop the others
                log.exception("auto-triage of incident %s failed", job.incident_id)
            finally:
                with self._cond:
                    self.active -= 1
                    self.done += 1
                    self._cond.notify_all()

    def stop(self, deadline: float) -> None:
        """Finish running and queued triage until `deadline`; drop and log what is left."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._cond:
            left = list(self._jobs)
            self._jobs.clear()
            self.dropped.extend(left)
            running = self.active
        if left:
            log.warning("shutdown deadline passed: auto-triage of %d queued incident(s) dropped: %s",
                        len(left), ", ".join(str(j.incident_id) for j in left))
        if running:
            log.warning("shutdown deadline passed: %d auto-triage conversation(s) still running, abandoned", running)

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or running (tests and shutdown reports use it)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._jobs or self.active:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


def triage_pool(rt: Runtime, client: WebClient) -> TriagePool:
    """The pool `triops serve` runs: `triage_incident` under the TRIOPS_TRIAGE_* bounds."""

    def run(job: TriageJob) -> None:
        triage_incident(rt, client, channel=job.channel, thread_ts=job.thread_ts, title=job.title,
                        services=job.services, incident_id=job.incident_id)

    return TriagePool(run, concurrency=rt.settings.triage_concurrency, queue_size=rt.settings.triage_queue)
