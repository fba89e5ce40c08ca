"""The scheduled metrics scan as a managed worker of `triops serve` (start/stop like the other
workers): every `every` seconds, `tools.metrics.scan.scan`, then one Slack message per
condition — posted once, updated in place, marked resolved when the condition clears."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_sdk import WebClient

from bot.runtime import Runtime
from tools.metrics.scan import Action, plan, scan

log = logging.getLogger("triops.metrics.scan")


class MetricsScanner:
    name = "metrics-scan"

    def __init__(self, rt: Runtime, client: WebClient, channel: str, every: float = 300.0, **scan_args: Any):
        self.rt, self.client, self.channel, self.every = rt, client, channel, every
        self.scan_args = scan_args
        self.posted: dict[str, tuple[str, str]] = {}  # key -> (message ts, text)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[Action]:
        firing = {s for inc in _open_incidents(self.rt) for s in inc}
        findings = scan(self.rt.ctx, self.rt.catalog.service_names, firing=firing, **self.scan_args)
        actions = plan({k: t for k, (_, t) in self.posted.items()}, findings)
        for a in actions:
            if a.kind == "post":
                resp = self.client.chat_postMessage(channel=self.channel, text=a.text)
                self.posted[a.key] = (str(resp["ts"]), a.text)
            elif a.kind == "update":
                ts = self.posted[a.key][0]
                self.client.chat_update(channel=self.channel, ts=ts, text=a.text)
                self.posted[a.key] = (ts, a.text)
            else:
                ts = self.posted.pop(a.key)[0]
                self.client.chat_update(channel=self.channel, ts=ts, text=f":white_check_mark: resolved — ~{a.text}~")
        return actions

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
