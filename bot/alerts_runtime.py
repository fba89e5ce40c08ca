"""The one AlertPipeline per process, kept as a runtime resource, with its clock ticker."""

from __future__ import annotations

import logging
import threading

from bot.runtime import Runtime
from tools.alerts.pipeline import AlertPipeline

log = logging.getLogger("triops.alerts")

TICK_SECONDS = 5.0


def get_pipeline(rt: Runtime, *, ticker: bool = False) -> AlertPipeline:
    """Build (once) the pipeline; restore open incidents from the store on first use."""
    pipeline: AlertPipeline = rt.ctx.resource(
        "alert_pipeline", lambda: AlertPipeline(rt.store, rt.catalog, clock=rt.ctx.clock)
    )
    if ticker:
        rt.ctx.resource("alert_ticker", lambda: _start_ticker(pipeline))
    return pipeline


def _start_ticker(pipeline: AlertPipeline) -> threading.Event:
    """Resolve incidents whose quiet period passed even when no alert arrives."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(TICK_SECONDS):
            try:
                pipeline.tick()
            except Exception as exc:  # keep ticking; the next tick retries
                log.warning("alert tick failed: %s", exc)

    threading.Thread(target=loop, name="triops-alert-ticker", daemon=True).start()
    return stop
