"""One incident growing through `AlertPipeline.ingest` in process (no HTTP, SQLite): the
server-side CPU of each 1,000-alert chunk and how much of it the cyclic garbage collector
took — the growth half of bench/ingest.py without the network and the shared-machine noise.

    PYTHONPATH=$PWD .venv/bin/python bench/ingest_inprocess.py --grow 10000 --group 80
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.alerts.models import Alert
from tools.alerts.pipeline import AlertPipeline
from tools.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grow", type=int, default=10_000)
    ap.add_argument("--group", type=int, default=80, help="alerts per ingest call (a group commit)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="triops-inproc-") as tmp:
        pipeline = AlertPipeline(Store.open(f"sqlite:///{tmp}/t.db"), providers=[])
        now = datetime.now(UTC)
        alerts = [Alert(source="alertmanager", fingerprint=f"g-{i}", name=f"Alert{i % 17}", service="bench-core",
                        severity="warning", labels={"instance": f"pod-{i}"},
                        starts_at=now - timedelta(seconds=(args.grow - i) * 0.02)) for i in range(args.grow)]
        collected: list[float] = []
        began = [0.0]

        def timer(phase: str, _info: dict[str, Any]) -> None:
            if phase == "start":
                began[0] = time.process_time()
            else:
                collected.append(time.process_time() - began[0])

        gc.callbacks.append(timer)
        chunk = args.grow // 10
        cpu, in_gc = [], []
        for c in range(10):
            n0, t0 = len(collected), time.process_time()
            for i in range(c * chunk, (c + 1) * chunk, args.group):
                pipeline.ingest(alerts[i:min(i + args.group, (c + 1) * chunk)])
            cpu.append(1e6 * (time.process_time() - t0) / chunk)
            in_gc.append(1e6 * sum(collected[n0:]) / chunk)
        gc.callbacks.remove(timer)
    print("CPU ms / 1,000 per chunk:", [round(x) for x in cpu], f"last/first {cpu[-1] / cpu[0]:.2f}")
    print("   of which GC          :", [round(x) for x in in_gc])


if __name__ == "__main__":
    main()
