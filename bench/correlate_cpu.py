"""Process CPU time of `correlate` per alert, several engines alternated in one process.

    .venv/bin/python bench/correlate_cpu.py 7 /tmp/before/tools/alerts/correlate.py tools/alerts/correlate.py

Wall time on a shared 2-core machine swings by 2x; CPU time of engines run in turn in one
process, best and median of N rounds, is the comparison that survives the neighbours. The
streams are those of `alertstorm.py --throughput 100000` (storm seed 1): all notifications,
and the distinct alerts only (first notification of each occurrence: every one is placed).
Each file is loaded as its own module, so a BEFORE tree's engine needs no other checkout.

Instructions per alert (deterministic, unlike CPU time on a shared machine): run the engine
`--passes` times over the distinct alerts of a 60-hour storm (seed 1) under callgrind, and take
the difference of 3 passes and 1 pass, divided by 2 and by the alerts (printed on stderr):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null .venv/bin/python bench/correlate_cpu.py --passes 3 ENGINE.py
"""

from __future__ import annotations

import gc
import importlib.util
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import alertstorm as storms


def _load(paths: list[str]) -> list:
    engines = []
    for i, path in enumerate(paths):
        spec = importlib.util.spec_from_file_location(f"engine{i}", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses look their module up
        spec.loader.exec_module(mod)
        engines.append((path, mod))
    return engines


def passes(k: int, path: str) -> None:
    """`k` passes of one engine over the distinct alerts of a 60-hour storm (for callgrind)."""
    ((_, mod),) = _load([path])
    storm = storms.build_storm(1, storms.StormConfig(hours=60.0))
    firsts: dict = {}
    for a in storm.notifications:
        firsts.setdefault(a.id, a)
    gc.collect()
    gc.freeze()
    for _ in range(k):
        e = mod.CorrelationEngine(storm.catalog, mod.CorrelationConfig())
        for a in firsts.values():
            e.process(a)
    print(f"{k} passes over {len(firsts):,} distinct alerts", file=sys.stderr)


def main() -> None:
    if sys.argv[1] == "--passes":
        passes(int(sys.argv[2]), sys.argv[3])
        return
    rounds, paths = int(sys.argv[1]), sys.argv[2:]
    engines = _load(paths)
    n, hours = 100_000, 6.0
    storm = storms.build_storm(1, storms.StormConfig(hours=hours))
    while len(storm.notifications) < n:  # as alertstorm.throughput builds it
        hours *= max(1.2, n / max(1, len(storm.notifications)) * 1.05)
        storm = storms.build_storm(1, storms.StormConfig(hours=hours))
    notes = storm.notifications[:n]
    firsts: dict = {}
    for a in notes:
        firsts.setdefault(a.id, a)
    streams = {"distinct": list(firsts.values()), "all": notes}
    gc.collect()
    gc.freeze()  # the input is not the engine's garbage
    cpu: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for path, mod in engines:
            for name, stream in streams.items():
                e = mod.CorrelationEngine(storm.catalog, mod.CorrelationConfig())
                t0 = time.process_time()
                for a in stream:
                    e.process(a)
                cpu.setdefault((path, name), []).append(time.process_time() - t0)
    for (path, name), xs in cpu.items():
        xs.sort()
        k = len(streams[name])
        print(f"{path}: {name} ({k:,}): best {k / xs[0]:,.0f}, median {k / xs[len(xs) // 2]:,.0f} alerts per CPU-second")


if __name__ == "__main__":
    main()
