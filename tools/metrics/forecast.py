"""Time to exhaustion with an 80 % interval, and Prometheus's `predict_linear` as the baseline.

The model (ordinary least squares, numpy only; no ETS fitting loop needed at these sizes):
    y(t) = a + b·t + Σ level steps + daily Fourier terms and day-of-week levels (each only when the
    history spans two of its periods),
so a cleanup that freed space (a step) does not bend the slope, and the daily/weekly cycle
moves the crossing to the peak where the disk really fills. The interval comes from the
standard error of the fitted mean at each future time (parameter covariance, inflated for the
residuals' lag-1 autocorrelation): the earliest time the upper 80 % band reaches the limit and
the latest time the lower band does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z80 = 1.2815515655446004  # two-sided 80 %: the 10th and 90th percentiles
DAY = 86400.0
WEEK = 7 * DAY
MAX_FIT_POINTS = 6000


@dataclass(frozen=True)
class Exhaustion:
    """Seconds from the last sample until the limit is reached (None: not within the horizon)."""

    seconds: float | None
    low: float | None  # 80 % interval
    high: float | None
    slope_per_hour: float
    seasonal: tuple[str, ...]
    steps: int
    current: float

    @property
    def hours(self) -> float | None:
        return None if self.seconds is None else self.seconds / 3600


def predict_linear_exhaustion(t: np.ndarray, y: np.ndarray, limit: float, horizon_s: float) -> float | None:
    """Prometheus's predict_linear: least-squares line over the range, extrapolated from the
    evaluation time (the last sample); seconds until it reaches `limit`, None if never/too far."""
    t, y = _clean(t, y)
    if len(t) < 2:
        return None
    tc = t - t[-1]
    slope, intercept = np.polyfit(tc, y, 1)  # intercept = the fitted value at the evaluation time
    return _line_crossing(float(intercept), float(slope), limit, horizon_s)


def _line_crossing(value_now: float, slope: float, limit: float, horizon_s: float) -> float | None:
    if value_now >= limit and slope >= 0:
        return 0.0
    if slope == 0 or (limit - value_now) / slope < 0:
        return None
    s = (limit - value_now) / slope
    return s if s <= horizon_s else None


@dataclass(frozen=True)
class Fit:
    """A fitted trend + steps + seasonal model (see the module docstring)."""

    beta: np.ndarray
    cov: np.ndarray
    sigma: float  # residual standard deviation
    q80: float  # 80th percentile of |residual|: the noise part of an 80 % prediction interval
    periods: tuple[str, ...]
    step_times: tuple[float, ...]
    t0: float
    dt: float

    def predict(self, t_abs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard error of the mean at absolute times (all steps have happened)."""
        Xf = _design((t_abs - self.t0) / 3600.0, self.periods, list(self.step_times), t_abs, future=True)
        return Xf @ self.beta, np.sqrt(np.einsum("ij,jk,ik->i", Xf, self.cov, Xf))

    def prediction_interval(self, t_abs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) of an 80 % interval for future *observations*: the mean's own
        uncertainty plus the empirical 80 % quantile of the residuals (not 1.28 σ: a spiky
        series' σ is inflated by its spikes, and a Gaussian band over-covered at 87 %)."""
        mean, se = self.predict(t_abs)
        half = np.sqrt((Z80 * se) ** 2 + self.q80 ** 2)
        return mean, mean - half, mean + half


def fit(t: np.ndarray, y: np.ndarray) -> Fit:
    t, y = _clean(t, y)
    if len(t) < 10:
        raise ValueError("need at least 10 finite samples to forecast")
    if len(t) > MAX_FIT_POINTS:  # bounded work: an even thinning keeps the shape
        idx = np.linspace(0, len(t) - 1, MAX_FIT_POINTS).astype(int)
        t, y = t[idx], y[idx]
    t0, span = float(t[-1]), float(t[-1] - t[0])
    periods = tuple(name for name, p in (("daily", DAY), ("weekly", WEEK)) if span >= 2 * p)
    step_times = tuple(float(t[i]) for i in _steps(y, t))
    X = _design((t - t0) / 3600.0, periods, list(step_times), t)
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    dof = max(len(y) - X.shape[1], 1)
    s2 = float(resid @ resid) / dof
    rho = float(np.corrcoef(resid[:-1], resid[1:])[0, 1]) if len(resid) > 3 and resid.std() > 0 else 0.0
    rho = min(max(rho, 0.0), 0.98)
    cov = np.linalg.pinv(X.T @ X) * s2 * (1 + rho) / (1 - rho)
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 300.0
    q80 = float(np.quantile(np.abs(resid), 0.8)) if len(resid) else 0.0
    return Fit(beta, cov, math.sqrt(s2), q80, periods, step_times, t0, dt)


def time_to_exhaustion(t: np.ndarray, y: np.ndarray, limit: float, horizon_s: float = 30 * DAY,
                       direction: int = 1) -> Exhaustion:
    """When `y` reaches `limit`, rising (direction=1, e.g. bytes used) or falling (-1, bytes free)."""
    sign = 1.0 if direction > 0 else -1.0  # a falling series reaching a floor = its negative rising
    m = fit(np.asarray(t, dtype=float), sign * np.asarray(y, dtype=float))
    lim = sign * limit
    n_future = int(min(horizon_s / max(m.dt, 1.0), 20_000)) + 1
    ft = np.linspace(0.0, horizon_s, n_future)
    mean, se = m.predict(ft + m.t0)

    def band(z: float) -> Callable[[np.ndarray], np.ndarray]:
        def gap(times: np.ndarray) -> np.ndarray:
            mu, sd = m.predict(times + m.t0)
            return mu + z * sd - lim
        return gap

    point = _first(ft, mean - lim, band(0.0))
    low = _first(ft, mean + Z80 * se - lim, band(Z80))
    high = _first(ft, mean - Z80 * se - lim, band(-Z80))
    return Exhaustion(point, low, high, sign * float(m.beta[1]), m.periods, len(m.step_times), sign * float(mean[0]))


def _first(ft: np.ndarray, gap: np.ndarray, exact: Callable[[np.ndarray], np.ndarray] | None = None) -> float | None:
    """The first time `gap` (value - limit) reaches 0: the first grid point at or above, then
    refined between it and the point before on the model itself (a daily peak grazing the limit
    bends within one grid step; linear interpolation there misplaced crossings by minutes, as
    much as a narrow interval's width)."""
    idx = np.flatnonzero(gap >= 0)
    if not len(idx):
        return None
    i = int(idx[0])
    if i == 0:
        return 0.0
    lo, hi = float(ft[i - 1]), float(ft[i])
    if exact is None:
        g0, g1 = float(gap[i - 1]), float(gap[i])
        return lo + (hi - lo) * (-g0) / (g1 - g0)
    for _ in range(4):  # 4 rounds of a 16-point grid: the step shrinks 16^4 = 65,536-fold
        sub = np.linspace(lo, hi, 17)
        g = exact(sub)
        j = int(np.flatnonzero(g >= 0)[0]) if (g >= 0).any() else 16
        if j == 0:
            return float(sub[0])
        lo, hi = float(sub[j - 1]), float(sub[j])
    return hi


def _design(tc_h: np.ndarray, periods: tuple[str, ...], step_times: list[float], t_abs: np.ndarray,
            future: bool = False) -> np.ndarray:
    cols = [np.ones_like(tc_h), tc_h]
    if "daily" in periods:  # a smooth daily cycle: three harmonics
        for k in (1, 2, 3):
            ang = 2 * math.pi * k * t_abs / DAY
            cols += [np.sin(ang), np.cos(ang)]
    if "weekly" in periods:  # a weekly pattern is mostly weekday vs weekend: day-of-week levels
        dow = np.floor(t_abs / DAY) % 7
        cols += [(dow == d).astype(float) for d in range(1, 7)]
    for st in step_times:  # 1 after the step: in the future every step has happened
        cols.append(np.ones_like(tc_h) if future else (t_abs >= st).astype(float))
    return np.column_stack(cols)


def _steps(y: np.ndarray, t: np.ndarray | None = None, max_steps: int = 5) -> list[int]:
    """Indices where the level jumps: |Δy| far beyond the robust spread of Δy (and of y's noise).
    Δy is taken net of the typical slope × Δt, so a series that kept its trend across a gap in
    the samples shows no jump there."""
    d = np.diff(y)
    if len(d) < 10:
        return []
    if t is not None and len(t) == len(y):
        dt = np.diff(t)
        ok = dt > 0
        if ok.any():
            d = d - float(np.median(d[ok] / dt[ok])) * dt
    mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826
    span = float(np.percentile(y, 95) - np.percentile(y, 5))
    thr = max(8 * mad, 0.02 * span, 1e-12)
    jumps = np.flatnonzero(np.abs(d - np.median(d)) > thr) + 1
    out: list[int] = []
    for j in jumps:
        if not out or j - out[-1] > 3:
            out.append(int(j))
    return [j for j in out if 5 <= j <= len(y) - 5][-max_steps:]


def _clean(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    return t[ok], y[ok]
