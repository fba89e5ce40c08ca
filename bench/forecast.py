"""Time to exhaustion: triops's forecaster (tools.metrics.forecast) vs Prometheus's
`predict_linear` (least-squares line over the range, formula re-implemented) in the same run.

1. Generated series with a known exhaustion time (14 days of 5-min history, capacity 100):
   linear, seasonal (daily + weekly cycle), steps (cleanups in the history), noisy (AR(1)).
   Truth = when the noiseless series first reaches 100. MAE of time-to-exhaustion (hours; a
   miss inside the 30-day horizon counts as a forecast of 30 days) and coverage of triops's
   80 % interval. predict_linear is run over the whole history ([14d]) and over [6h].
2. NAB's AWS CloudWatch disk and CPU series (no exhaustion in them): 6-hour-ahead value
   forecasts from cut points every 12 h, MAE (in units of the series' std) and the coverage of
   the 80 % prediction interval.

    python bench/forecast.py                # 200 series per kind
    python bench/forecast.py --n 50
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.metrics import forecast as fc  # noqa: E402

STEP = 300.0
HIST = 14 * 86400.0
HORIZON = 30 * 86400.0
KINDS = ("linear", "seasonal", "steps", "noisy")


def generate(kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """(t, y, true seconds to exhaustion after the last sample)."""
    t = np.arange(-HIST, STEP / 2, STEP)  # last sample at t = 0
    tte = rng.uniform(0.5, 10) * 86400  # when the *trend* would reach 100
    now_level = rng.uniform(40, 85)
    rate = (100 - now_level) / tte
    def clean(tt: np.ndarray) -> np.ndarray:
        base = now_level + rate * tt
        if kind == "seasonal":
            amp = rng_amp
            base = base + amp * np.sin(2 * np.pi * tt / 86400 + phase) + 0.5 * amp * (
                ((tt // 86400 + weekday0) % 7) < 5)
        return base
    rng_amp = rng.uniform(1.5, 5.0)
    phase = rng.uniform(0, 2 * np.pi)
    weekday0 = int(rng.integers(0, 7))
    y = clean(t)
    if kind == "steps":
        for _ in range(int(rng.integers(1, 3))):
            at = rng.uniform(-HIST * 0.9, -HIST * 0.2)
            y = y + np.where(t < at, rng.uniform(5, 15), 0.0)  # a cleanup freed space at `at`
    sigma = 0.3 if kind != "noisy" else 2.0
    noise = rng.normal(0, sigma, len(t))
    if kind == "noisy":
        for i in range(1, len(noise)):
            noise[i] += 0.8 * noise[i - 1]
        noise *= 0.6
    y = y + noise
    ft = np.arange(0, HORIZON, 60.0)
    hit = np.flatnonzero(clean(ft) >= 100)
    if not len(hit):
        return t, y, HORIZON
    i = int(hit[0])
    if i == 0:
        return t, y, 0.0
    fine = np.arange(ft[i - 1], ft[i] + 0.5, 1.0)  # to the second: intervals can be minutes wide
    return t, y, float(fine[np.flatnonzero(clean(fine) >= 100)[0]])


def _err(pred: float | None, truth: float) -> float:
    return abs((pred if pred is not None else HORIZON) - truth) / 3600


def generated(n: int) -> None:
    print(f"Generated series ({n} per kind, 14 d history at 5 min, horizon 30 d): MAE of time to exhaustion, hours")
    print(f"  {'kind':9s} {'triops':>8s} {'pl[14d]':>8s} {'pl[6h]':>8s}  {'ratio vs pl[14d]':>16s}  80% cover  width h")
    rng = np.random.default_rng(2026)
    all_cov: list[bool] = []
    t_ours = t_pl = 0.0
    for kind in KINDS:
        e_o, e_l, e_s, cov, width = [], [], [], [], []
        for _ in range(n):
            t, y, truth = generate(kind, rng)
            a = time.perf_counter()
            r = fc.time_to_exhaustion(t, y, 100.0, HORIZON)
            b = time.perf_counter()
            p_full = fc.predict_linear_exhaustion(t, y, 100.0, HORIZON)
            p_6h = fc.predict_linear_exhaustion(t[-72:], y[-72:], 100.0, HORIZON)
            c = time.perf_counter()
            t_ours += b - a
            t_pl += c - b
            e_o.append(_err(r.seconds, truth))
            e_l.append(_err(p_full, truth))
            e_s.append(_err(p_6h, truth))
            lo = r.low if r.low is not None else HORIZON
            hi = r.high if r.high is not None else HORIZON
            cov.append(lo <= truth <= hi)
            width.append((hi - lo) / 3600)
        all_cov += cov
        mo, ml, ms = np.mean(e_o), np.mean(e_l), np.mean(e_s)
        print(f"  {kind:9s} {mo:8.2f} {ml:8.2f} {ms:8.2f}  {mo / ml:16.2f}  {100 * np.mean(cov):8.1f}%  {np.median(width):7.1f}")
    print(f"  all kinds: 80% interval coverage {100 * np.mean(all_cov):.1f}%; time per forecast triops "
          f"{1000 * t_ours / (n * len(KINDS)):.1f} ms, predict_linear (x2) {1000 * t_pl / (n * len(KINDS)):.2f} ms")


def nab_series() -> None:
    from tools.metrics import nab

    root = nab.default_root(ROOT)
    if root is None:
        print("\nNAB data not found (shared/data/nab beside the repo): NAB part skipped")
        return
    import pandas as pd

    files = sorted((root / "data" / "realAWSCloudwatch").glob("*.csv"))
    files = [f for f in files if "disk" in f.name or "cpu" in f.name]
    print(f"\nNAB disk/CPU series ({len(files)} files): 6-h-ahead value forecasts from cut points every 12 h")
    eo: list[float] = []
    el: list[float] = []
    es: list[float] = []
    cov: list[bool] = []
    gauss: list[bool] = []
    for f in files:
        df = pd.read_csv(f)
        t = pd.to_datetime(df["timestamp"]).astype("int64").to_numpy() / 1e9
        y = df["value"].to_numpy(dtype=float)
        sd = float(np.std(y)) or 1.0
        cut = t[0] + 3 * 86400
        while cut + 6 * 3600 <= t[-1]:
            past = t <= cut
            target_t = cut + 6 * 3600
            j = int(np.searchsorted(t, target_t))
            if j >= len(t):
                break
            m = fc.fit(t[past], y[past])
            mean, lo, hi = m.prediction_interval(np.array([t[j]]))
            eo.append(abs(float(mean[0]) - y[j]) / sd)
            cov.append(float(lo[0]) <= y[j] <= float(hi[0]))
            se = m.predict(np.array([t[j]]))[1]
            gauss.append(abs(float(mean[0]) - y[j]) <= fc.Z80 * float(np.sqrt(se[0] ** 2 + m.sigma ** 2)))
            for hist, acc in ((t[past], el), (t[past][-72:], es)):
                yy = y[past][-len(hist):]
                slope, icpt = np.polyfit(hist - hist[-1], yy, 1)
                acc.append(abs(icpt + slope * (t[j] - hist[-1]) - y[j]) / sd)
            cut += 12 * 3600
    print(f"  forecasts: {len(eo)}; MAE/std triops {np.mean(eo):.3f}, predict_linear[all] {np.mean(el):.3f}, "
          f"predict_linear[6h] {np.mean(es):.3f}; triops 80% prediction interval covers {100 * np.mean(cov):.1f}% "
          f"(a Gaussian band, mean ± 1.28·sqrt(se² + σ²): {100 * np.mean(gauss):.1f}%)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--nab-only", action="store_true")
    args = ap.parse_args()
    if not args.nab_only:
        generated(args.n)
    nab_series()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
