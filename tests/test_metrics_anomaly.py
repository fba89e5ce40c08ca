"""The streaming detector: causal, bounded, small state, finds a step and a spike."""

from __future__ import annotations

import math
import sys

import numpy as np

from tools.metrics.anomaly import Detector, score_series
from tools.metrics.signals import THRESHOLD


def _noise(n: int, seed: int = 1) -> np.ndarray:
    return 100 + np.random.default_rng(seed).normal(0, 1, n)


def test_scores_are_causal_and_in_unit_interval() -> None:
    x = _noise(2000)
    x[1500:] += 15
    full = score_series(x)
    prefix = score_series(x[:1600])
    assert np.array_equal(full[:1600], prefix)  # the future changes no past score
    assert ((full >= 0) & (full <= 1)).all()


def test_step_and_spike_stand_out_from_noise() -> None:
    x = _noise(3000, seed=2)
    x[2000:] += 12  # level shift
    s = score_series(x)
    quiet = s[500:1990].max()
    assert s[2000:2010].max() > quiet
    y = _noise(3000, seed=3)
    y[2500] += 30  # single spike
    t = score_series(y)
    assert int(np.argmax(t[500:])) + 500 in range(2500, 2505)


def test_nan_inf_and_gaps_are_tolerated() -> None:
    det = Detector()
    out = [det.update(v) for v in [1.0, math.nan, math.inf, 2.0, -math.inf] + [1.0] * 100]
    assert all(0.0 <= v <= 1.0 for v in out)
    assert det.update(math.nan) == 0.0


def test_state_is_small_enough_for_10000_series() -> None:
    det = Detector()
    for v in _noise(100):
        det.update(float(v))
    size = sys.getsizeof(det.st) + sum(sys.getsizeof(getattr(det.st, f)) for f in det.st.__slots__)
    assert size < 2000  # bytes, seasonal buckets included: 10,000 series < 20 MB


def _daily(days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    t = 1_700_000_000 - 1_700_000_000 % 86400 + np.arange(days * 288) * 300.0
    x = 50 + 40 * np.sin(2 * np.pi * t / 86400) + np.random.default_rng(seed).normal(0, 1, len(t))
    return t, x


def test_a_flat_stretch_where_the_day_should_move_is_found_only_with_timestamps() -> None:
    t, x = _daily(10, seed=4)
    start = 8 * 288 + 60  # day 8, 05:00: the daily wave stops for 8 hours at its current value
    x[start:start + 96] = x[start] + np.random.default_rng(5).normal(0, 1, 96)
    with_t = score_series(x, times=t)
    without = score_series(x)
    same_hours_before = max(with_t[start - k * 288:start - k * 288 + 96].max() for k in range(1, 6))
    assert with_t[start:start + 96].max() > max(THRESHOLD, same_hours_before)
    assert without[start:start + 96].max() < THRESHOLD  # inside the range: invisible without time


def test_a_small_sustained_shift_is_found() -> None:
    x = _noise(4000, seed=6)
    y = x.copy()
    y[3000:] += 1.0  # one noise spread: no single point is extreme
    assert score_series(y)[3000:3300].max() > THRESHOLD > score_series(x)[3000:3300].max()


def test_epoch_seconds_reads_numbers_and_iso_times() -> None:
    from tools.metrics.anomaly import epoch_seconds

    assert epoch_seconds("1700000000") == 1_700_000_000
    assert epoch_seconds("1700000000000") == 1_700_000_000  # milliseconds
    assert epoch_seconds("2023-11-14 22:13:20") == 1_700_000_000  # naive = UTC
    assert epoch_seconds("2023-11-14T22:13:20Z") == 1_700_000_000
    assert epoch_seconds("yesterday") is None and epoch_seconds("nan") is None
