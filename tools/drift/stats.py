"""Two-sample drift statistics on numpy arrays: pure functions, vectorised, no row loops.

Every formula mirrors the reference implementation it is named after so that a verdict
here is the verdict there:
- Kolmogorov–Smirnov: scipy.stats.ks_2samp (exact below 10,000 rows, Smirnov's asymptotic
  `kstwo.sf(D, round(n·m/(n+m)))` above, as scipy's method='auto').
- Wasserstein distance: scipy.stats.wasserstein_distance, divided by max(std(ref), 0.001)
  as in evidentlyai/evidently `legacy/calculations/stattests/wasserstein_distance_norm.py`.
- Binning for PSI and Jensen–Shannon: evidently `legacy/calculations/stattests/utils.py
  get_binned_data`: a numeric column whose reference has > 20 distinct values is cut into
  numpy "sturges" equal-width bins over reference ∪ current; anything else is counted per
  distinct value. PSI fills empty bins (Evidently's `feel_zeroes`): 1e-4, or the smallest
  non-zero share / 1e6 when that share is itself ≤ 1e-4.
- Jensen–Shannon distance: scipy.spatial.distance.jensenshannon, natural log.
- Chi-square: Evidently's goodness-of-fit form (`chisquare_stattest.py`: expected =
  reference counts × n_cur/n_ref, scipy.stats.chisquare) and, on request, the test of
  homogeneity of scipy.stats.chi2_contingency (Yates' correction at one degree of freedom).
- Z-test for two proportions: evidently `z_stattest.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import stats as sps
from scipy.special import rel_entr

EXACT_KS_MAX_N = 10_000  # scipy ks_2samp method='auto' is exact up to this sample size


@dataclass(frozen=True)
class NumericPair:
    """Reference and current samples of one numeric column, sorted, finite values only.

    Sorting once and merging once gives the ECDFs that KS, Wasserstein, the value counts
    and the histograms all read, so each test costs a pass over arrays already in order.
    """

    ref: np.ndarray  # sorted
    cur: np.ndarray  # sorted
    merged: np.ndarray  # ref ∪ cur, sorted
    cdf_diff: np.ndarray  # F_ref(x) − F_cur(x) at each merged point (right-continuous)

    @classmethod
    def build(cls, ref: np.ndarray, cur: np.ndarray) -> NumericPair:
        ref = np.sort(np.asarray(ref, dtype=np.float64))
        cur = np.sort(np.asarray(cur, dtype=np.float64))
        n, m = ref.size, cur.size
        if n == 0 or m == 0:
            raise ValueError("both samples need at least one finite value")
        both = np.concatenate([ref, cur])
        # A stable sort of two sorted runs is a linear merge; ties keep reference first.
        order = np.argsort(both, kind="stable")
        merged = both[order]
        index = np.int32 if n + m < 2**31 else np.int64
        from_cur = np.cumsum(order >= n, dtype=index)
        from_ref = np.arange(1, n + m + 1, dtype=index)
        np.subtract(from_ref, from_cur, out=from_ref)
        cdf_diff = np.divide(from_ref, n, dtype=np.float64)  # F_ref, as scipy: count / n
        cdf_diff -= np.divide(from_cur, m, dtype=np.float64)
        return cls(ref, cur, merged, cdf_diff)

    @property
    def n_ref(self) -> int:
        return int(self.ref.size)

    @property
    def n_cur(self) -> int:
        return int(self.cur.size)

    @cached_property
    def _run_ends(self) -> np.ndarray:
        """merged[i] != merged[i + 1]: where a run of equal values ends."""
        return self.merged[1:] != self.merged[:-1]

    @cached_property
    def _n_unique(self) -> int:
        return 1 + int(np.count_nonzero(self._run_ends))

    def n_unique(self) -> int:
        """Distinct values over reference ∪ current (Evidently's choice of test reads this)."""
        return self._n_unique

    def n_unique_ref(self) -> int:
        return 1 + int(np.count_nonzero(self.ref[1:] != self.ref[:-1]))

    @cached_property
    def _ks_statistic(self) -> float:
        # ECDFs must be read after every tie, as scipy's searchsorted(side='right') does;
        # the last point has both ECDFs at 1 and adds nothing.
        ties = self.n_unique() < self.merged.size
        d = self.cdf_diff[:-1][self._run_ends] if ties else self.cdf_diff[:-1]
        if d.size == 0:
            return 0.0
        return float(max(np.clip(-d.min(), 0, 1), d.max(), 0.0))

    def ks_statistic(self) -> float:
        return self._ks_statistic

    def ks_pvalue(self) -> float:
        n, m = self.n_ref, self.n_cur
        if max(n, m) <= EXACT_KS_MAX_N:
            return float(sps.ks_2samp(self.ref, self.cur).pvalue)
        big, small = sorted([float(n), float(m)], reverse=True)
        en = big * small / (big + small)
        return float(np.clip(sps.kstwo.sf(self.ks_statistic(), np.round(en)), 0, 1))

    def wasserstein(self) -> float:
        """∫|F_ref − F_cur| dx over the merged sample (scipy's _cdf_distance with p=1)."""
        # Not np.dot: BLAS would start (and spin) its own threads for one product.
        gaps = np.diff(self.merged)
        gaps *= np.abs(self.cdf_diff[:-1])
        return float(gaps.sum())

    def wasserstein_norm(self, std_floor: float = 0.001) -> float:
        return self.wasserstein() / max(float(np.std(self.ref)), std_floor)

    def value_counts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(distinct values of ref ∪ cur, reference counts, current counts)."""
        keys = np.concatenate([self.merged[:1], self.merged[1:][self._run_ends]])
        return keys, _count_sorted(self.ref, keys), _count_sorted(self.cur, keys)

    def binned_counts(self, binning: str = "sturges", n_bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Counts per bin as Evidently bins (see module doc), or reference-quantile bins."""
        if binning == "quantile":
            edges = np.unique(np.quantile(self.ref, np.linspace(0, 1, n_bins + 1)))
            edges[0], edges[-1] = -np.inf, np.inf
            if edges.size < 2:
                edges = np.array([-np.inf, np.inf])
            return _hist_sorted(self.ref, edges), _hist_sorted(self.cur, edges)
        if self.n_unique_ref() > 20:
            edges = np.histogram_bin_edges(self.merged, bins="sturges")
            return _hist_sorted(self.ref, edges), _hist_sorted(self.cur, edges)
        _, ref_counts, cur_counts = self.value_counts()
        return ref_counts, cur_counts


def _count_sorted(sorted_values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return np.searchsorted(sorted_values, keys, "right") - np.searchsorted(sorted_values, keys, "left")


def _hist_sorted(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """np.histogram(values, edges)[0] for sorted values: half-open bins, the last closed."""
    pos = np.searchsorted(sorted_values, edges, "left")
    pos[-1] = np.searchsorted(sorted_values, edges[-1], "right")
    return np.diff(pos)


def shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total else counts


def fill_empty(p: np.ndarray, eps: float = 1e-4) -> np.ndarray:
    """Evidently's `feel_zeroes`: empty bins get eps, or min non-zero / 1e6 if that is ≤ eps."""
    p = np.array(p, dtype=np.float64)
    nonzero = p[p != 0]
    if nonzero.size == 0:
        return p
    low = nonzero.min()
    p[p == 0] = low / 10**6 if low <= eps else eps
    return p


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index Σ (ref − cur)·ln(ref/cur) over shares with empty bins filled."""
    r = fill_empty(shares(ref_counts), eps)
    c = fill_empty(shares(cur_counts), eps)
    return float(np.sum((r - c) * np.log(r / c)))


def jensenshannon(ref_counts: np.ndarray, cur_counts: np.ndarray, base: float | None = None) -> float:
    """Jensen–Shannon distance (natural log unless base), as scipy.spatial.distance.jensenshannon."""
    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    p = p / np.sum(p)
    q = q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
    if base is not None:
        js /= np.log(base)
    return float(np.sqrt(js / 2.0))


def chisquare_gof_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's chi-square: current counts against reference shares scaled to n_cur."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    obs = np.asarray(cur_counts, dtype=np.float64)
    if ref.size < 2:
        return 1.0
    expected = ref * (obs.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (obs - expected) ** 2 / expected
    # A category unseen in the reference has expected 0 and observed > 0: infinite statistic.
    terms = np.where((expected == 0) & (obs == 0), 0.0, terms)
    return float(sps.chi2.sf(np.sum(terms), ref.size - 1))


def chi2_contingency_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray, correction: bool = True) -> float:
    """Homogeneity test on the 2×k table, as scipy.stats.chi2_contingency."""
    table = np.vstack([ref_counts, cur_counts]).astype(np.float64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    dof = table.shape[1] - 1
    observed = table
    if dof == 1 and correction:
        diff = expected - observed
        observed = observed + np.minimum(0.5, np.abs(diff)) * np.sign(diff)
    stat = np.sum((observed - expected) ** 2 / expected)
    return float(sps.chi2.sf(stat, dof))


def z_test_pvalue(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Two-proportion z-test on the first of (at most two) categories, two-sided."""
    ref = np.asarray(ref_counts, dtype=np.float64)
    cur = np.asarray(cur_counts, dtype=np.float64)
    present = (ref + cur) > 0
    ref, cur = ref[present], cur[present]
    if ref.size > 2:
        raise ValueError("the z-test compares two categories at most")
    if ref.size < 2:
        return 1.0  # one value on both sides: nothing moved (Evidently returns 1 too)
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = ref[1] / n1, cur[1] / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * sps.norm.sf(abs(z)))


def category_counts(ref_codes: np.ndarray, cur_codes: np.ndarray, n_categories: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category code; code −1 (missing) is left out."""
    ref_codes = ref_codes[ref_codes >= 0]
    cur_codes = cur_codes[cur_codes >= 0]
    ref = np.bincount(ref_codes, minlength=n_categories)
    cur = np.bincount(cur_codes, minlength=n_categories)
    seen = (ref + cur) > 0
    return ref[seen], cur[seen]
