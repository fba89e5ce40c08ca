"""The one AlertPipeline per process, kept as a runtime resource, and its clock ticker.

The ticker is a managed worker: `triops serve`'s lifespan starts it and stops it (it used to
be a daemon thread started by the first webhook, which nothing ever stopped). With replicas
it is also the correlator's heartbeat: every `poll` seconds it renews (or, when the owner
died, takes) the correlator lease and correlates what other replicas logged; on stop it
hands the lease over so another replica takes over at once.
"""

from __future__ import annotations

import logging
import threading
import time

from bot.runtime import Runtime
from tools.alerts.pipeline import AlertPipeline

log = logging.getLogger("triops.alerts")

TICK_SECONDS = 5.0
POLL_SECONDS = 0.25  # the owner picks up other replicas' alerts within this


def get_pipeline(rt: Runtime) -> AlertPipeline:
    """Build (once) the pipeline; restore open incidents from the store on first use."""
    from tools.alerts.metric_evidence import prometheus_provider

    pipeline: AlertPipeline = rt.ctx.resource(
        "alert_pipeline", lambda: AlertPipeline(
            rt.store, rt.catalog, clock=rt.ctx.clock, time_bound_years=rt.settings.time_bound_years,
            lease_ttl=rt.settings.correlator_lease_s,
            metrics=prometheus_provider(rt.settings, rt.catalog),
        )
    )
    return pipeline


class AlertTicker:
    """Resolves incidents whose quiet period passed even when no alert arrives, and keeps
    this replica's claim on (or watch for) the correlator lease."""

    name = "alert-ticker"

    def __init__(self, rt: Runtime, every: float = TICK_SECONDS, poll: float = POLL_SECONDS):
        self.rt = rt
        self.every = every
        self.poll = poll
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat: threading.Thread | None = None

    def start(self) -> None:
        pipeline = get_pipeline(self.rt)  # restores open incidents now, not on the first alert

        def loop() -> None:
            next_tick = time.monotonic() + self.every
            while not self._stop.wait(self.poll):
                try:
                    pipeline.drain()
                    if time.monotonic() >= next_tick:
                        next_tick = time.monotonic() + self.every
                        pipeline.tick()
                except Exception:  # a database hiccup: the next round retries; the trace is logged
                    log.exception("alert correlation round failed")

        def heartbeat() -> None:  # renews the lease while a long save holds the pipeline's lock
            while not self._stop.wait(pipeline.lease_ttl / 3):
                try:
                    pipeline.renew_lease()
                except Exception as exc:  # the database is away: the correlating round fails too
                    log.warning("correlator lease not renewed: %s", type(exc).__name__)

        self._thread = threading.Thread(target=loop, name="triops-alert-ticker", daemon=True)
        self._thread.start()
        self._beat = threading.Thread(target=heartbeat, name="triops-lease-heartbeat", daemon=True)
        self._beat.start()

    def stop(self, deadline: float) -> None:
        """Stop ticking; a round in progress finishes (its incidents are saved) and metric
        evidence being read arrives (saved) before `deadline`; then the lease is handed over."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning("alert ticker still busy at the shutdown deadline")
                return
        if self._beat is not None:  # no renewal may land after the hand-over
            self._beat.join(timeout=max(0.0, deadline - time.monotonic()))
        pipeline = get_pipeline(self.rt)
        # evidence still being read is saved (the card updated) while this replica still owns
        # the incidents; what misses the deadline the next correlator reads again
        if not pipeline.settle(max(0.0, deadline - time.monotonic())):
            log.warning("metric evidence still being read at the shutdown deadline: the next correlator reads it again")
        try:
            pipeline.release()
        except Exception:  # the lease then expires by itself
            log.exception("could not hand the correlator lease over")
