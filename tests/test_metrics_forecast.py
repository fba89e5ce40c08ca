"""Time to exhaustion: predict_linear's formula, and the seasonal/step-aware forecaster."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tools.metrics.forecast import predict_linear_exhaustion, time_to_exhaustion

DAY = 86400.0


def test_predict_linear_is_the_least_squares_line_from_the_last_sample() -> None:
    t = np.arange(0, 3600, 60.0)
    y = 10 + 0.01 * t  # reaches 100 at t = 9000, i.e. 9000 - 3540 s after the last sample
    assert predict_linear_exhaustion(t, y, 100.0, 10 * DAY) == pytest.approx(9000 - 3540)
    assert predict_linear_exhaustion(t, 50 - 0.001 * t, 100.0, 10 * DAY) is None  # moving away


def _seasonal(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    t = np.arange(-14 * DAY, 1, 300.0)
    amp, rate, now = 4.0, 30 / (3 * DAY), 60.0

    def clean(tt: np.ndarray) -> np.ndarray:
        return now + rate * tt + amp * np.sin(2 * math.pi * tt / DAY) + 2.0 * (((tt // DAY) % 7) < 5)

    ft = np.arange(0, 30 * DAY, 60.0)
    truth = float(ft[np.flatnonzero(clean(ft) >= 100)[0]])
    return t, clean(t) + rng.normal(0, 0.3, len(t)), truth


def test_seasonal_exhaustion_is_found_with_an_interval_and_beats_predict_linear() -> None:
    rng = np.random.default_rng(5)
    errs, pl_errs, covered = [], [], 0
    for _ in range(10):
        t, y, truth = _seasonal(rng)
        f = time_to_exhaustion(t, y, 100.0)
        assert f.seconds is not None and f.low is not None and f.high is not None
        assert f.low <= f.seconds <= f.high
        assert "daily" in f.seasonal and "weekly" in f.seasonal
        errs.append(abs(f.seconds - truth))
        pl = predict_linear_exhaustion(t, y, 100.0, 30 * DAY)
        pl_errs.append(abs((pl if pl is not None else 30 * DAY) - truth))
        covered += f.low - 600 <= truth <= f.high + 600
    assert np.mean(errs) <= 0.5 * np.mean(pl_errs)
    assert covered >= 6


def test_a_cleanup_step_does_not_bend_the_trend_and_falling_series_work() -> None:
    t = np.arange(-7 * DAY, 1, 300.0)
    used = 50 + 10 / DAY * t + np.where(t < -3 * DAY, 20.0, 0.0)  # 20 % freed 3 days ago
    f = time_to_exhaustion(t, used, 100.0)
    assert f.steps == 1 and f.seconds == pytest.approx(5 * DAY, rel=0.02)
    free = 100 - used
    g = time_to_exhaustion(t, free, 0.0, direction=-1)
    assert g.seconds == pytest.approx(5 * DAY, rel=0.02) and g.current == pytest.approx(50, abs=0.5)
    with pytest.raises(ValueError):
        time_to_exhaustion(t[:5], used[:5], 100.0)
    flat = time_to_exhaustion(t, np.full(len(t), 40.0) + np.sin(t), 100.0)
    assert flat.seconds is None


def test_a_small_cleanup_on_a_fast_filling_disk_is_a_step() -> None:
    t = np.arange(-14 * DAY, 1, 300.0)
    rng = np.random.default_rng(8)
    used = 80 + 20 / (2 * DAY) * t + np.where(t < -5 * DAY, 6.0, 0.0) + rng.normal(0, 0.3, len(t))
    f = time_to_exhaustion(t, used, 100.0)  # the span is ~140: 6 is < 5 % of it
    assert f.steps == 1 and f.seconds == pytest.approx(2 * DAY, rel=0.02)


def test_prediction_interval_covers_80_percent_of_spiky_observations() -> None:
    from tools.metrics.forecast import fit

    rng = np.random.default_rng(9)
    t = np.arange(0, 10 * DAY, 300.0)
    y = 20 + rng.standard_t(2, len(t))  # heavy tails: sigma overstates the typical deviation
    m = fit(t[: len(t) // 2], y[: len(t) // 2])
    _, lo, hi = m.prediction_interval(t[len(t) // 2:])
    future = y[len(t) // 2:]
    assert 0.75 <= float(np.mean((lo <= future) & (future <= hi))) <= 0.85
