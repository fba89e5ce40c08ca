"""Drift test cases built from scikit-learn's bundled data sets (no download) with injected
shifts. Shared by the agreement test and by `tests/fixtures/make_evidently_verdicts.py`,
which runs Evidently on the very same frames in its own virtual environment.

Only numpy, pandas and scikit-learn are imported here, so both environments can load it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn import datasets

SCENARIOS = ("none", "mean_shift", "variance", "category_swap")


@dataclass
class Case:
    name: str
    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str] = field(default_factory=list)

    def checksum(self) -> float:
        """A fingerprint of the generated numbers, so a fixture never silently goes stale."""
        total = 0.0
        for frame in (self.reference, self.current):
            total += float(np.nansum(frame[self.numerical].to_numpy(dtype=float)))
            for c in self.categorical:
                total += float(frame[c].astype(str).str.len().sum())
        return round(total, 6)


def _frame(loader, label_col: str | None) -> tuple[pd.DataFrame, list[str], list[str]]:
    bunch = loader()
    frame = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names]).astype(float)
    numerical = list(frame.columns)
    categorical: list[str] = []
    if label_col is not None:
        names = getattr(bunch, "target_names", None)
        labels = np.asarray(bunch.target)
        frame[label_col] = [str(names[t]) for t in labels] if names is not None else labels.astype(str)
        categorical.append(label_col)
    return frame, numerical, categorical


def _base(name: str) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    rng = np.random.default_rng(sum(map(ord, name)))
    if name == "iris":
        frame, num, cat = _frame(datasets.load_iris, "species")
    elif name == "wine":
        frame, num, cat = _frame(datasets.load_wine, "cultivar")
    elif name == "breast_cancer":
        frame, num, cat = _frame(datasets.load_breast_cancer, "diagnosis")
    elif name == "diabetes":
        frame, num, cat = _frame(datasets.load_diabetes, None)
        frame["progression"] = datasets.load_diabetes().target.astype(float)
        num.append("progression")
    elif name == "digits":
        frame, num, cat = _frame(datasets.load_digits, None)
        frame["label"] = datasets.load_digits().target.astype(str)
        cat.append("label")
    elif name == "breast_cancer_large":
        frame, num, cat = _frame(datasets.load_breast_cancer, "diagnosis")
        picks = rng.integers(0, len(frame), 5000)
        frame = frame.iloc[picks].reset_index(drop=True)
        jitter = rng.normal(0, 0.01, (len(frame), len(num))) * frame[num].std().to_numpy()
        frame[num] = frame[num].to_numpy() + jitter
    else:
        raise KeyError(name)
    order = rng.permutation(len(frame))
    cut = {"digits": 1200, "breast_cancer_large": 3000}.get(name, len(frame) // 2)
    ref = frame.iloc[order[:cut]].reset_index(drop=True)
    cur = frame.iloc[order[cut:]].reset_index(drop=True)
    return ref, cur, num, cat


def build(name: str, scenario: str) -> Case:
    ref, cur, num, cat = _base(name)
    cur = cur.copy()
    rng = np.random.default_rng(7 + SCENARIOS.index(scenario))
    # Shift a third of the numeric columns (every third one), always the same ones.
    chosen = num[::3]
    if scenario == "mean_shift":
        for c in chosen:
            cur[c] = cur[c] + 0.5 * ref[c].std()
    elif scenario == "variance":
        for c in chosen:
            mean = ref[c].mean()
            cur[c] = mean + (cur[c] - mean) * 1.8
    elif scenario == "category_swap" and cat:
        c = cat[0]
        counts = cur[c].value_counts()
        top, bottom = counts.index[0], counts.index[-1]
        rows = np.flatnonzero(cur[c].to_numpy() == top)
        swap = rng.choice(rows, size=int(0.4 * rows.size), replace=False)
        cur.loc[swap, c] = bottom
    elif scenario == "category_swap":
        # no label column: swap the two most common values of the most discrete feature
        c = min(num, key=lambda k: ref[k].nunique())
        values = cur[c].value_counts().index[:2]
        col = cur[c].to_numpy().copy()
        first = col == values[0]
        pick = rng.random(col.size) < 0.6
        col[first & pick] = values[1]
        cur[c] = col
    if scenario == "none" and name == "breast_cancer_large":
        holes = rng.random(len(cur)) < 0.05
        cur.loc[holes, num[1]] = np.nan
    return Case(f"{name}/{scenario}", ref, cur, num, cat)


DATASETS = ("iris", "wine", "breast_cancer", "diabetes", "digits", "breast_cancer_large")


def all_cases() -> list[Case]:
    return [build(d, s) for d in DATASETS for s in SCENARIOS]
