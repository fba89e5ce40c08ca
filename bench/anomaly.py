"""NAB: triops's streaming detector (tools.metrics.anomaly, ONE configuration for all 58 series,
causal) scored by triops's NAB scorer (tools.metrics.nab), next to the published scores; the
scorer is first checked against the two detectors whose per-row outputs NAB ships.

    python bench/anomaly.py                 # reads ../shared/data/nab (beside the repo)
    python bench/anomaly.py --nab PATH

Besides the whole corpus, the detector is scored on the odd-indexed files (sorted by name; the
half its configuration was tuned on) and on the even-indexed ones (held out), each with its
own threshold sweep.

    python bench/anomaly.py --half odd --config '{"novelty": 300}'   # try a variant on one half only

With `--half` only that half is scored (no scorer check, no peer run): tune on `odd`, then
look at `even` once for the chosen variant.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.metrics.anomaly import Config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PUBLISHED_STANDARD = {"ARTime": 74.9, "numenta (HTM)": 70.1, "contextOSE": 69.9, "earthgeckoSkyline": 58.2,
                      "randomCutForest": 51.7, "twitterADVec": 47.1, "windowedGaussian": 39.6}


def main() -> int:
    from tools.metrics import anomaly, nab

    ap = argparse.ArgumentParser()
    ap.add_argument("--nab", type=Path, default=None)
    ap.add_argument("--half", choices=("odd", "even"), default=None, help="score only this half of the files")
    ap.add_argument("--config", default="{}", help="JSON of Config fields that differ from the default")
    args = ap.parse_args()
    root = args.nab or nab.default_root(ROOT)
    if root is None or not (root / "labels" / "combined_windows.json").exists():
        print("NAB data not found (expects shared/data/nab beside the repo, or --nab / TRIOPS_NAB_DIR): skipped")
        return 0
    windows = nab.load_windows(root)
    names = sorted(windows)
    if args.half:
        return _one_half(root, windows, names[1::2] if args.half == "odd" else names[0::2], args.half,
                         anomaly.Config(**json.loads(args.config)))
    pub = nab.published(root)
    print("Scorer check (shipped per-row outputs, exhaustive sweep):")
    for det in ("numenta", "windowedGaussian"):
        parts = []
        for name in names:
            ts, sc = nab.read_detector_scores(root, det, name)
            parts.append(nab.file_parts(sc, nab.window_rows(ts, windows[name])))
        for prof, r in nab.score_all_profiles(parts).items():
            print(f"  {det:17s} {prof:19s} ours {r.normalized:6.2f}  published {pub[det][prof]:6.2f}  "
                  f"Δ {r.normalized - pub[det][prof]:+.2f}  (threshold {r.threshold:.6g})")
    series = {n: nab.read_series(root, n) for n in names}
    times = {n: nab.epoch_seconds(ts) for n, (ts, _) in series.items()}
    total = sum(len(v) for _, v in series.values())
    t0 = time.perf_counter()
    scores = {n: anomaly.score_series(v, times=times[n]) for n, (_, v) in series.items()}
    elapsed = time.perf_counter() - t0
    ours = {n: nab.file_parts(scores[n], nab.window_rows(series[n][0], windows[n])) for n in names}
    print(f"\ntriops streaming detector, one configuration ({anomaly.Config()}):")
    for label, subset in (("all 58 files", names), ("odd-indexed (tuning half)", names[1::2]),
                          ("even-indexed (held out)", names[0::2])):
        print(f"  {label}:")
        for prof, r in nab.score_all_profiles([ours[n] for n in subset]).items():
            print(f"    {prof:19s} {r.normalized:6.2f}  (threshold {r.threshold:.4f}, windows hit {r.tp_windows}/"
                  f"{r.n_windows}, FP rows {r.fp_rows})")
    print(f"  {total} points in {elapsed:.2f} s = {total / elapsed:,.0f} points/s (one core, pure Python per point)")
    prev = anomaly.Config(slots=0, level_rate=0.0, refractory=400)  # before seasonal + level shift
    t0 = time.perf_counter()
    old = {n: anomaly.score_series(v, prev) for n, (_, v) in series.items()}
    el_old = time.perf_counter() - t0
    r_old = nab.score_all_profiles([nab.file_parts(old[n], nab.window_rows(series[n][0], windows[n])) for n in names])
    print("  previous configuration (no seasonal, no level shift, refractory 400): " + ", ".join(
        f"{p} {r.normalized:.2f}" for p, r in r_old.items()) + f"; {total / el_old:,.0f} points/s in the same run "
          f"(ratio {el_old / elapsed:.2f})")
    print("\nPublished standard scores: " + ", ".join(f"{k} {v}" for k, v in PUBLISHED_STANDARD.items()))
    return 0


def _one_half(root: Path, windows: dict, subset: list[str], half: str, cfg: Config) -> int:
    from tools.metrics import anomaly, nab

    series = {n: nab.read_series(root, n) for n in subset}
    t0 = time.perf_counter()
    scores = {n: anomaly.score_series(v, cfg, times=nab.epoch_seconds(ts)) for n, (ts, v) in series.items()}
    elapsed = time.perf_counter() - t0
    parts = [nab.file_parts(scores[n], nab.window_rows(series[n][0], windows[n])) for n in subset]
    print(f"{half}-indexed files ({len(subset)}), {cfg}:")
    for prof, r in nab.score_all_profiles(parts).items():
        print(f"  {prof:19s} {r.normalized:6.2f}  (windows hit {r.tp_windows}/{r.n_windows}, FP rows {r.fp_rows})")
    total = sum(len(v) for _, v in series.values())
    print(f"  {total} points in {elapsed:.2f} s = {total / elapsed:,.0f} points/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
