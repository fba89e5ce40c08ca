"""The scheduled metrics scan as a managed worker of `triops serve` (start/stop like the other
workers): every `every` seconds, `tools.metrics.scan.scan`, then one Slack message per
condition — posted once, updated in place, marked resolved when the condition clears.

What is posted lives in the store (tools.metrics.conditions), not in this object: a restart
finds its messages again, and of two replicas scanning at once only the one whose claim the
database accepts posts (each update and resolve is a compare-and-set as well)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient

from bot.runtime import Runtime
from tools.metrics import conditions
from tools.metrics.scan import Action, plan, scan

log = logging.getLogger("triops.metrics.scan")


class MetricsScanner:
    name = "metrics-scan"

    def __init__(self, rt: Runtime, client: WebClient, channel: str, every: float = 300.0, **scan_args: Any):
        self.rt, self.client, self.channel, self.every = rt, client, channel, every
        self.scan_args = scan_args
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def posted(self) -> dict[str, tuple[str | None, str]]:
        """key -> (message ts, text) of the conditions open in this channel (from the store)."""
        return conditions.open_conditions(self.rt.store, self.channel)

    def tick(self) -> list[Action]:
        """One scan; returns the actions this replica carried out (a lost race is not one)."""
        firing = {s for inc in _open_incidents(self.rt) for s in inc}
        findings = scan(self.rt.ctx, self.rt.catalog.service_names, firing=firing, **self.scan_args)
        kinds = {f.key: f.kind for f in findings}
        store, now = self.rt.store, self.rt.ctx.now().timestamp()
        done: list[Action] = []
        # a claim whose poster died before recording the message is no post: plan() sees it as
        # new and `claim` hands it on; one whose condition has cleared meanwhile is dropped
        open_now = conditions.open_conditions(store, self.channel, now)
        conditions.drop_expired(store, self.channel, now, keep=set(kinds))
        for a in plan({k: t for k, (_, t) in open_now.items()}, findings):
            if a.kind == "post":
                if not conditions.claim(store, a.key, kinds[a.key], self.channel, a.text, now):
                    continue  # another replica holds it
                try:
                    resp = self.client.chat_postMessage(channel=self.channel, text=a.text)
                except Exception:
                    conditions.release(store, a.key)  # not posted: the next scan tries again
                    raise
                conditions.posted(store, a.key, str(resp["ts"]), now)
            elif a.kind == "update":
                old = open_now[a.key][1]
                ts = conditions.retext(store, a.key, old, a.text, now)
                if ts is None:
                    continue
                self.client.chat_update(channel=self.channel, ts=ts, text=a.text)
            else:
                won = conditions.resolve(store, a.key, now)
                if won is None:
                    continue
                self.client.chat_update(channel=self.channel, ts=won[0],
                                        text=f":white_check_mark: resolved — ~{won[1]}~")
            done.append(a)
        return done

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.every):
                try:
                    self.tick()
                except Exception:  # Slack or Prometheus down: the next tick retries; the trace is logged
                    log.exception("metrics scan failed")

        self._thread = threading.Thread(target=loop, name="triops-metrics-scan", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _open_incidents(rt: Runtime) -> list[list[str]]:
    from tools.alerts import incidents

    return [list(i.services) for i in incidents.open_incidents(rt.store)]
