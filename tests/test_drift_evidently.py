"""Same per-feature verdicts as Evidently 0.7.23 on scikit-learn's bundled data sets with
injected shifts (mean shift, variance change, category swap, no shift).

Evidently's verdicts were recorded in its own virtual environment by
tests/fixtures/make_evidently_verdicts.py (see its docstring for why and how); the frames
are regenerated here from tests/drift_cases.py and fingerprinted against the recording.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.drift_cases import all_cases
from tools.drift import DriftConfig, compute_drift

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "evidently_verdicts.json").read_text())
CASES = {c.name: c for c in all_cases()}


def test_fixture_covers_every_case_and_scenario() -> None:
    assert set(FIXTURE["cases"]) == set(CASES)
    assert FIXTURE["evidently"] == "0.7.23"
    drifted = {name: sum(c["drifted"] for c in v["columns"].values()) for name, v in FIXTURE["cases"].items()}
    # the injected shifts are visible to Evidently, and "no shift" is quiet
    assert drifted["breast_cancer_large/mean_shift"] >= 10
    assert drifted["iris/none"] == 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdicts_as_evidently(name: str) -> None:
    case = CASES[name]
    expected = FIXTURE["cases"][name]
    assert case.checksum() == pytest.approx(expected["checksum"], rel=1e-12), "test data changed"
    report = compute_drift(
        case.reference,
        case.current,
        DriftConfig(numerical=case.numerical, categorical=case.categorical),
    )
    ours = {f.column: f for f in report.features}
    assert set(ours) == set(expected["columns"])
    for column, theirs in expected["columns"].items():
        mine = ours[column]
        assert mine.method == theirs["method"], column
        assert mine.drifted == theirs["drifted"], (column, mine.score, theirs["score"])
        assert mine.score == pytest.approx(theirs["score"], rel=1e-6, abs=1e-12), column


@pytest.mark.parametrize("method", ["psi", "jensenshannon"])
def test_same_scores_as_evidently_when_one_test_is_forced(method: str) -> None:
    """PSI and Jensen–Shannon on every column: Evidently's binning (sturges over reference ∪
    current for numeric columns with > 20 reference values, else per value) and PSI's
    empty-bin rule, on all 24 cases."""
    forced = FIXTURE["forced"][method]
    assert set(forced) == set(CASES)
    compared = 0
    for name, columns in forced.items():
        case = CASES[name]
        config = DriftConfig(numerical=case.numerical, categorical=case.categorical,
                             numeric_method=method, categorical_method=method)
        ours = {f.column: f for f in compute_drift(case.reference, case.current, config).features}
        for column, theirs in columns.items():
            mine = ours[column]
            assert mine.method == theirs["method"] == method
            assert mine.score == pytest.approx(theirs["score"], rel=1e-6, abs=1e-12), (name, column)
            assert mine.drifted == theirs["drifted"], (name, column)
            compared += 1
    assert compared == 628
