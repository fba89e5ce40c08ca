"""Template grouping on loghub 2k: our miner vs drain3 vs Drain's published accuracy.

    .venv/bin/python bench/loghub.py [--data ../shared/data/loghub]

Grouping accuracy (GA): a line counts only if the set of lines in its predicted group
equals the set of lines sharing its true EventId (Zhu et al., ICSE-SEIP 2019).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.alerts.templates import TemplateMiner

DRAIN_PUBLISHED = {
    "HDFS": 0.998, "Hadoop": 0.948, "Spark": 0.920, "Zookeeper": 0.967, "OpenStack": 0.733,
    "BGL": 0.963, "HPC": 0.887, "Thunderbird": 0.955, "Windows": 0.997, "Linux": 0.690,
    "Mac": 0.787, "Android": 0.911, "HealthApp": 0.780, "Apache": 1.000, "OpenSSH": 0.788,
    "Proxifier": 0.527,
}


def grouping_accuracy(truth: list[str], pred: list[object]) -> float:
    by_truth: dict[str, set[int]] = defaultdict(set)
    by_pred: dict[object, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, pred, strict=True)):
        by_truth[t].add(i)
        by_pred[p].add(i)
    right = 0
    for members in by_pred.values():
        t = truth[next(iter(members))]
        if by_truth[t] == members:
            right += len(members)
    return right / len(truth)


def load(data: Path, name: str) -> tuple[list[str], list[str]]:
    with open(data / name / f"{name}_2k.log_structured.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["Content"] for r in rows], [r["EventId"] for r in rows]


def run_ours(lines: list[str]) -> tuple[list[int], float]:
    miner = TemplateMiner()
    t0 = time.perf_counter()
    ids = [miner.add(line) for line in lines]
    return ids, time.perf_counter() - t0


def run_drain3(lines: list[str], masked: bool) -> tuple[list[int], float]:
    from drain3 import TemplateMiner as D3
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    cfg = TemplateMinerConfig()
    cfg.profiling_enabled = False
    if masked:
        cfg.masking_instructions = [
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "HEX"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
            MaskingInstruction(r"(/[\w.\-]+)+", "PATH"),
        ]
    import logging

    logging.getLogger("drain3").setLevel(logging.WARNING)
    miner = D3(config=cfg)
    t0 = time.perf_counter()
    ids = [miner.add_log_message(line)["cluster_id"] for line in lines]
    elapsed = time.perf_counter() - t0
    # drain3 may merge clusters later; take each line's final cluster (re-match, no learning)
    final = []
    for line, cid in zip(lines, ids, strict=True):
        m = miner.match(line)
        final.append(m.cluster_id if m is not None else cid)
    return final, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "loghub")
    args = ap.parse_args()
    rows = []
    tot = {"ours": 0.0, "d3": 0.0, "d3m": 0.0}
    nlines = 0
    print(f"{'system':<12} {'ours':>6} {'drain3':>7} {'drain3+m':>9} {'Drain pub':>9}")
    for name in DRAIN_PUBLISHED:
        lines, truth = load(args.data, name)
        nlines += len(lines)
        ours, t_ours = run_ours(lines)
        d3, t_d3 = run_drain3(lines, masked=False)
        d3m, t_d3m = run_drain3(lines, masked=True)
        tot["ours"] += t_ours
        tot["d3"] += t_d3
        tot["d3m"] += t_d3m
        r = (name, grouping_accuracy(truth, ours), grouping_accuracy(truth, d3),
             grouping_accuracy(truth, d3m), DRAIN_PUBLISHED[name])
        rows.append(r)
        print(f"{r[0]:<12} {r[1]:>6.3f} {r[2]:>7.3f} {r[3]:>9.3f} {r[4]:>9.3f}")
    n = len(rows)
    means = [sum(r[i] for r in rows) / n for i in range(1, 5)]
    print(f"{'mean':<12} {means[0]:>6.3f} {means[1]:>7.3f} {means[2]:>9.3f} {means[3]:>9.3f}")
    print(
        f"throughput lines/s: ours {nlines / tot['ours']:,.0f}  drain3 {nlines / tot['d3']:,.0f}  "
        f"drain3+masks {nlines / tot['d3m']:,.0f}  (ours/drain3 {tot['d3'] / tot['ours']:.2f}x, "
        f"ours/drain3+masks {tot['d3m'] / tot['ours']:.2f}x)"
    )


if __name__ == "__main__":
    main()
