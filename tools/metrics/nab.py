"""Numenta Anomaly Benchmark scorer, written from the published method (Lavin & Ahmad 2015,
NAB's sweeper): anomaly windows, probation period, scaled sigmoid, three cost profiles, ONE
threshold per profile swept over the whole corpus, normalised against the null and perfect
detectors. Pure functions over numpy arrays; I/O lives in `load_*` helpers at the end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROFILES: dict[str, tuple[float, float, float]] = {  # name -> (tpWeight, fpWeight, fnWeight)
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


def scaled_sigmoid(x: float | np.ndarray) -> np.ndarray:
    """A(x) = 2/(1+e^{5x}) - 1, and -1 beyond 3 window-widths (NAB's scaledSigmoid)."""
    arr = np.asarray(x, dtype=float)
    out = 2.0 / (1.0 + np.exp(np.clip(5.0 * arr, -700, 700))) - 1.0
    return np.where(arr > 3.0, -1.0, out)


def probation_length(n: int) -> int:
    """Rows not scored at the start of an n-row file: min(floor(0.15 n), 750)."""
    return min(math.floor(0.15 * n), 750)


@dataclass(frozen=True)
class FileParts:
    """Per scored row of one file: its sweep value and window id (-1 = outside every window)."""

    scores: np.ndarray  # anomaly scores of the scored (post-probation) rows
    sweep: np.ndarray  # A(...) value: TP credit (normalised) inside a window, FP cost (<= 0) outside
    window: np.ndarray  # window index local to the file, -1 outside
    n_windows: int


def file_parts(anomaly_scores: Sequence[float] | np.ndarray, windows: Sequence[tuple[int, int]]) -> FileParts:
    """Row-level sweep values of one file; `windows` are (first_row, last_row) inclusive, sorted."""
    scores = np.asarray(anomaly_scores, dtype=float)
    n = len(scores)
    sweep = np.empty(n)
    window = np.full(n, -1, dtype=np.int64)
    max_tp = float(scaled_sigmoid(-1.0))
    idx = np.arange(n)
    prev_end: int | None = None
    prev_width = 0.0
    cursor = 0
    for k, (start, end) in enumerate(windows):
        width = float(end - start + 1)
        _fill_outside(sweep, idx, cursor, start, prev_end, prev_width)
        inside = idx[start:end + 1]
        sweep[start:end + 1] = scaled_sigmoid(-(end - inside + 1) / width) / max_tp
        window[start:end + 1] = k
        prev_end, prev_width, cursor = end, width, end + 1
    _fill_outside(sweep, idx, cursor, n, prev_end, prev_width)
    keep = idx >= probation_length(n)
    return FileParts(scores[keep], sweep[keep], window[keep], len(windows))


def _fill_outside(sweep: np.ndarray, idx: np.ndarray, lo: int, hi: int, prev_end: int | None,
                  prev_width: float) -> None:
    if hi <= lo:
        return
    if prev_end is None:
        sweep[lo:hi] = -1.0
    else:
        sweep[lo:hi] = scaled_sigmoid(np.abs(idx[lo:hi] - prev_end) / max(prev_width - 1.0, 1.0))


@dataclass(frozen=True)
class Sweep:
    threshold: float
    raw: float
    normalized: float
    tp_windows: int
    fp_rows: int
    n_windows: int


def sweep_corpus(parts: Iterable[FileParts], profile: str | tuple[float, float, float] = "standard",
                 threshold: float | None = None) -> Sweep:
    """Best corpus score over every distinct anomaly score as threshold (score >= t detects),
    or the score at a fixed `threshold`. Exhaustive and vectorised: sort once, cumulative sums."""
    tp_w, fp_w, fn_w = PROFILES[profile] if isinstance(profile, str) else profile
    plist = list(parts)
    n_windows = sum(p.n_windows for p in plist)
    offsets = np.cumsum([0] + [p.n_windows for p in plist[:-1]])
    scores = np.concatenate([p.scores for p in plist]) if plist else np.empty(0)
    sweep = np.concatenate([p.sweep for p in plist]) if plist else np.empty(0)
    win = np.concatenate([np.where(p.window >= 0, p.window + off, -1) for p, off in zip(plist, offsets, strict=True)]) \
        if plist else np.empty(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    s, v, w = scores[order], sweep[order], win[order]
    delta = np.where(w < 0, fp_w * v, 0.0)
    in_w = w >= 0
    first_tp = np.zeros(len(s), dtype=bool)
    if in_w.any():
        # Per window, the credit is the max sweep value (= earliest row) among detected rows:
        # a running max per window; each row adds (new max - old max), the first adds fnWeight too.
        wi = np.flatnonzero(in_w)
        ww, vv = w[wi], v[wi]
        grp = np.argsort(ww, kind="stable")
        g_w, g_v = ww[grp], vv[grp]
        starts = np.r_[True, g_w[1:] != g_w[:-1]]
        seg = np.cumsum(starts) - 1
        runmax = _segment_cummax(g_v, seg)
        prev = np.where(starts, np.nan, np.r_[np.nan, runmax[:-1]])
        d = np.where(starts, fn_w + tp_w * runmax, tp_w * (runmax - prev))
        back = np.empty_like(d)
        back[grp] = d
        delta[wi] = back
        fs = np.zeros(len(wi), dtype=bool)
        fs[grp] = starts
        first_tp[wi] = fs
    base = -fn_w * n_windows
    total = base + np.cumsum(delta)
    tp_count = np.cumsum(first_tp)
    fp_count = np.cumsum(w < 0)
    last_of_value = np.r_[s[1:] != s[:-1], True] if len(s) else np.empty(0, dtype=bool)
    cand = np.flatnonzero(last_of_value)
    perfect, null = tp_w * n_windows, base
    if threshold is not None:
        k = int(np.searchsorted(-s, -threshold, side="right")) - 1  # last row with score >= threshold
        raw = base if k < 0 else float(total[k])
        return Sweep(threshold, raw, _norm(raw, null, perfect), int(tp_count[k]) if k >= 0 else 0,
                     int(fp_count[k]) if k >= 0 else 0, n_windows)
    best_raw, best_t, best_k = base, float(s[0]) + 1.0 if len(s) else 1.0, -1
    if len(cand):
        j = int(np.argmax(total[cand]))
        if total[cand[j]] > best_raw:
            best_k = int(cand[j])
            best_raw, best_t = float(total[best_k]), float(s[best_k])
    return Sweep(best_t, best_raw, _norm(best_raw, null, perfect),
                 int(tp_count[best_k]) if best_k >= 0 else 0, int(fp_count[best_k]) if best_k >= 0 else 0,
                 n_windows)


def _segment_cummax(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Running max within consecutive segments (seg ids non-decreasing): shift each segment above
    all previous ones, take one global running max, shift back."""
    if not len(values):
        return values
    span = float(np.nanmax(values) - np.nanmin(values)) + 1.0
    lifted = values + seg * span * 2.0
    return np.maximum.accumulate(lifted) - seg * span * 2.0


def _norm(raw: float, null: float, perfect: float) -> float:
    return 100.0 * (raw - null) / (perfect - null) if perfect != null else 0.0


def score_all_profiles(parts: Sequence[FileParts]) -> dict[str, Sweep]:
    return {name: sweep_corpus(parts, name) for name in PROFILES}


# ---------------------------------------------------------------- corpus I/O (bench + tests)

def load_windows(nab_root: Path) -> dict[str, list[tuple[str, str]]]:
    raw: dict[str, list[list[str]]] = json.loads((nab_root / "labels" / "combined_windows.json").read_text())
    return {k: [(a, b) for a, b in v] for k, v in raw.items()}


def window_rows(timestamps: Sequence[str], limits: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    """Window limits (timestamps, '.000000' suffix tolerated) -> inclusive row ranges."""
    pos = {t: i for i, t in enumerate(timestamps)}
    return [(pos[a.split(".")[0]], pos[b.split(".")[0]]) for a, b in limits]


def corpus_files(nab_root: Path) -> list[str]:
    return sorted(load_windows(nab_root))


def read_series(nab_root: Path, name: str) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    df = pd.read_csv(nab_root / "data" / name)
    return list(df["timestamp"].astype(str)), df["value"].to_numpy(dtype=float)


def epoch_seconds(timestamps: Sequence[str]) -> np.ndarray:
    """NAB's naive timestamps (UTC) as epoch seconds."""
    import pandas as pd

    return (pd.to_datetime(pd.Series(list(timestamps))).astype("int64") // 10**9).to_numpy(dtype=float)


def read_detector_scores(nab_root: Path, detector: str, name: str) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    cat, fname = name.split("/")
    df = pd.read_csv(nab_root / "results" / detector / cat / f"{detector}_{fname}")
    return list(df["timestamp"].astype(str)), df["anomaly_score"].to_numpy(dtype=float)


def published(nab_root: Path) -> Mapping[str, Any]:
    data: Mapping[str, Any] = json.loads((nab_root / "results" / "final_results.json").read_text())
    return data


def default_root(repo_root: Path) -> Path | None:
    """The NAB folder: $TRIOPS_NAB_DIR, else shared/data/nab beside the clone (CI), else two
    levels up (a git worktree in a folder beside the clone)."""
    import os

    env = os.environ.get("TRIOPS_NAB_DIR")
    cands = [Path(env)] if env else []
    cands += [repo_root.parent / "shared" / "data" / "nab", repo_root.parent.parent / "shared" / "data" / "nab"]
    return next((c for c in cands if (c / "labels" / "combined_windows.json").exists()), None)
