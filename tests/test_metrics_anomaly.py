"""The streaming detector: causal, bounded, small state, finds a step and a spike."""

from __future__ import annotations

import math
import sys

import numpy as np

from tools.metrics.anomaly import Detector, score_series


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
    assert size < 1000  # bytes: 10,000 series < 10 MB
