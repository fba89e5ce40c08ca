"""Streaming anomaly detector: each point is scored from the past only, O(1) work and a few
floats of state per series (about 200 bytes: 10,000 series fit in a few MB).

Per point:
1. a robust deviation: |x - level| / spread, where level and spread are exponentially
   weighted on a winsorised input (an outlier moves them by at most `clip` spreads), at two
   time scales (fast: recent regime; slow: long-run behaviour), the larger taken;
2. an anomaly *likelihood* (the idea of Numenta's HTM likelihood): the short-term mean of that
   deviation compared with its own long-run distribution, turned into a tail probability. A
   series that is always noisy stops alarming; a quiet one that changes alarms at once;
3. novelty: a value outside every value seen so far scores by its excess over the past range
   (new extremes are most of what an operator calls an anomaly; on NAB this one feature took
   the standard score from 47.9 to 61.6);
4. a refractory damping: right after a strong alarm the next ones are damped, so a long event
   is reported once, early (what operators want, and what NAB rewards).

ONE configuration (`Config()`) serves every series; the benchmark (bench/anomaly.py) scores it
on all 58 NAB series. Its values were chosen on NAB itself (about 35 configurations tried, the
ablations are in bench/RESULTS.md), so the NAB figure is optimistic for unseen data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Config:
    fast: float = 0.01  # EW rate of the recent level/spread
    slow: float = 0.001  # EW rate of the long-run level/spread
    clip: float = 3.0  # winsorise the input at level ± clip·spread before updating
    short: float = 0.3  # EW rate of the short-term mean deviation
    long: float = 0.0005  # EW rate of the deviation's long-run mean/variance
    warmup: int = 30  # points before any non-zero score
    refractory: int = 400  # points during which a fired alarm damps the next ones
    fire: float = 3.5  # a likelihood z above this starts the refractory period
    squash: float = 5.0  # score = z / (z + squash): monotone, never saturates at 1.0
    novelty: float = 1000.0  # weight of "outside every value seen so far" (excess / past range)
    damp_novelty: bool = True  # the refractory period damps new extremes too
    forget: float = 0.0  # rate at which the remembered extremes relax toward the long-run level


class SeriesState:
    """The state of one series (slots: a handful of floats)."""

    __slots__ = ("dmean", "dshort", "dvar", "lf", "ls", "mn", "mx", "n", "scale0", "sf", "since_fire", "ss")

    def __init__(self) -> None:
        self.n = 0
        self.lf = self.sf = self.ls = self.ss = 0.0
        self.dshort = self.dmean = 0.0
        self.dvar = 1.0
        self.since_fire = 10**9
        self.scale0 = 0.0
        self.mn = math.inf
        self.mx = -math.inf


def _tail(z: float) -> float:
    """P(Z <= z) of a standard normal."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


class Detector:
    """Scores points one at a time; `update(x)` returns a score in [0, 1] from the past only."""

    __slots__ = ("cfg", "st")

    def __init__(self, cfg: Config | None = None) -> None:
        self.cfg = cfg or Config()
        self.st = SeriesState()

    def update(self, x: float) -> float:
        c, s = self.cfg, self.st
        if not math.isfinite(x):
            return 0.0  # a missing point carries no evidence; state untouched
        nov = 0.0
        if s.n >= 2 and s.mx > s.mn:
            nov = max(x - s.mx, s.mn - x, 0.0) / (s.mx - s.mn)
        s.mn = min(s.mn, x)
        s.mx = max(s.mx, x)
        if s.n == 0:
            s.lf = s.ls = x
            s.sf = s.ss = 0.0
            s.scale0 = abs(x)
            s.n = 1
            return 0.0
        s.n += 1
        floor = 1e-3 * (s.scale0 + abs(s.ls)) + 1e-9
        sf = max(s.sf, floor)
        ss = max(s.ss, floor)
        dev = max(abs(x - s.lf) / sf, abs(x - s.ls) / ss)
        dev = min(dev, 50.0)
        # update baselines on the winsorised value
        xf = min(max(x, s.lf - c.clip * sf), s.lf + c.clip * sf) if s.n > 3 else x
        xs = min(max(x, s.ls - c.clip * ss), s.ls + c.clip * ss) if s.n > 3 else x
        a = max(c.fast, 1.0 / s.n)
        b = max(c.slow, 1.0 / s.n)
        s.sf += a * (abs(xf - s.lf) - s.sf)
        s.lf += a * (xf - s.lf)
        s.ss += b * (abs(xs - s.ls) - s.ss)
        s.ls += b * (xs - s.ls)
        if c.forget > 0:
            s.mx -= c.forget * (s.mx - s.ls)
            s.mn += c.forget * (s.ls - s.mn)
        # likelihood of the short-term deviation under its long-run distribution
        s.dshort += c.short * (dev - s.dshort)
        lr = max(c.long, 1.0 / s.n)
        diff = dev - s.dmean
        s.dmean += lr * diff
        s.dvar = (1 - lr) * (s.dvar + lr * diff * diff)
        if s.n < c.warmup:
            return 0.0
        z = (s.dshort - s.dmean) / math.sqrt(max(s.dvar, 1e-6))
        s.since_fire += 1
        damp = s.since_fire / c.refractory if s.since_fire < c.refractory else 1.0
        z *= damp
        if c.novelty > 0 and nov > 0:
            z = max(z, c.novelty * nov * (damp if c.damp_novelty else 1.0))
        if z >= c.fire:
            s.since_fire = 0
        return z / (z + c.squash) if z > 0 else 0.0


def score_series(values: Iterable[float], cfg: Config | None = None) -> np.ndarray:
    """Scores of a whole series, streamed point by point (causal by construction)."""
    det = Detector(cfg)
    return np.fromiter((det.update(float(v)) for v in values), dtype=float)
