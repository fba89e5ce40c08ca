"""The scheduled model checks of `triops serve`: every model, at its interval
(TRIOPS_MODEL_CHECK_INTERVAL / TRIOPS_MODEL_CHECK_INTERVALS), gets drift and performance
checked on its newest window (and the MLflow registry synced first, when configured).
The result goes to TRIOPS_MODEL_CHANNEL once per model — one message, updated in place on
each new window, its charts in the message's thread. Replicas share the work through a
lease per model in the database (tools/mlops/schedule.py), never through memory.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from bot.runtime import Runtime
    from tools.mlops.schedule import CheckResult

log = logging.getLogger("triops.model_checks")
LEASE = 600.0  # seconds a claimed check may take before another replica may take it over


class ModelChecks:
    name = "model-checks"

    def __init__(self, rt: Runtime, client: WebClient, channel: str, tick_every: float = 30.0):
        self.rt, self.client, self.channel, self.tick_every = rt, client, channel, tick_every
        self.worker = f"{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[CheckResult]:
        """One pass over the due models this replica wins; returns what it checked."""
        from tools.mlops import schedule

        ctx, store = self.rt.ctx, self.rt.store
        now = ctx.now().timestamp()
        settings = self.rt.settings
        if settings.mlflow_tracking_uri and settings.model_check_interval > 0 \
                and schedule.claim(store, schedule.MLFLOW_SYNC, self.worker, now, LEASE) is not None:
            try:
                log.info(schedule.sync_mlflow(ctx))
            finally:
                schedule.finish(store, schedule.MLFLOW_SYNC, self.worker, next_due=now + settings.model_check_interval)
        done = []
        for model in schedule.models(store):
            every = schedule.interval_for(settings, model)
            if every <= 0:
                continue
            row = schedule.claim(store, model, self.worker, now, LEASE)
            if row is None:
                continue
            ts, checked = row.get("message_ts"), None
            try:
                result = schedule.run_check(ctx, model, row.get("last_window"))
                if result.new:
                    ts = self._publish(result, row.get("channel") or self.channel, ts)
                    checked = result.window
                done.append(result)
            finally:  # a failed check is retried at the next interval, not in a tight loop
                schedule.finish(store, model, self.worker, next_due=now + every, checked_at=now, window=checked,
                                channel=(row.get("channel") or self.channel) if ts else None, message_ts=ts)
        return done

    def _publish(self, r: CheckResult, channel: str, ts: str | None) -> str | None:
        from bot.render.mlops import (
            drift_blocks,
            drift_chart,
            perf_blocks,
            perf_chart,
            status_blocks,
        )

        blocks: list[Any] = []
        text = f"Model check · {r.model} · {r.window}"
        if r.status is not None:
            blocks += [b.to_dict() for b in status_blocks(r.status)]
            text += f": {r.status.recommendation}"
        if r.performance is not None:  # the one-line summaries of the same renderers /triops uses
            blocks += [b.to_dict() for b in perf_blocks(r.performance)[1:2]]
        if r.drift is not None:
            blocks += [b.to_dict() for b in drift_blocks(r.drift)[1:2]]
        note = f"Scheduled check of window {r.window} · {self.rt.ctx.now():%Y-%m-%d %H:%M} UTC"
        if r.errors:
            note += " · " + "; ".join(r.errors)[:1500]
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=note)]).to_dict())
        if ts:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks[:50])
        else:
            ts = str(self.client.chat_postMessage(channel=channel, text=text, blocks=blocks[:50])["ts"])
        for chart in ([drift_chart(r.drift)] if r.drift else []) + ([perf_chart(r.performance)] if r.performance else []):
            if chart is None:
                continue
            try:  # a missing files:write scope costs the chart, not the check
                self.client.files_upload_v2(channel=channel, file=chart[1], filename=chart[0], thread_ts=ts,
                                            title=f"{chart[0].removesuffix('.png')} · {r.window}")
            except Exception:
                log.warning("model check chart upload failed for %s", r.model, exc_info=True)
        return ts

    def start(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.tick_every):
                try:
                    self.tick()
                except Exception:  # the database or Slack is down: the next tick retries; the trace is logged
                    log.exception("model checks failed")

        self._thread = threading.Thread(target=loop, name="triops-model-checks", daemon=True)
        self._thread.start()

    def stop(self, deadline: float) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
