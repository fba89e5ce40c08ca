"""Model registry, feature windows, drift reports and drift events on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tests.mlops_fixtures import BACKENDS, open_store
from tools.contract import ToolContext
from tools.errors import ToolError
from tools.mlops.ingest import parse_models
from tools.mlops.schemas import ModelIn
from tools.mlops.tool import LOCAL_FILES, drift_report, model_status
from tools.settings import Settings
from tools.store import models as reg

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def mlops_store(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_store(request.param, tmp_path)


def _ctx(store, files: bool = False) -> ToolContext:  # type: ignore[no-untyped-def]
    ctx = ToolContext(settings=Settings(), store=store, catalog=None, clock=lambda: NOW)
    if files:
        ctx.resource(LOCAL_FILES, lambda: True)
    return ctx


def _register(store, payload: list[dict], at: datetime) -> int:  # type: ignore[no-untyped-def]
    with store.engine.begin() as conn:
        return reg.upsert_models(conn, [ModelIn.model_validate(p) for p in payload], at.timestamp())


RANKER_V1 = {
    "name": "ranker", "service": "search", "team": "relevance",
    "versions": [{"version": 1, "aliases": ["champion"], "stage": "production", "trained_at": "2026-08-01T00:00:00",
                  "training_data": "s3://ml/ranker/2026-07", "metrics": {"ndcg@10": 0.40, "logloss": 0.50}}],
}
RANKER_V2 = {
    "name": "ranker", "version": "2", "aliases": ["champion"], "trained_at": "2026-11-10T00:00:00Z",
    "training_data": "s3://ml/ranker/2026-10", "metrics": {"ndcg@10": 0.37, "logloss": 0.45},
}


def test_versions_aliases_history_and_metrics(mlops_store) -> None:  # type: ignore[no-untyped-def]
    assert _register(mlops_store, [RANKER_V1], NOW - timedelta(days=100)) == 1
    assert _register(mlops_store, [RANKER_V2, {"name": "ranker", "version": "3", "aliases": ["challenger"]}], NOW - timedelta(days=9)) == 2
    with mlops_store.engine.connect() as conn:
        assert reg.get_model(conn, "ranker")["service"] == "search"  # kept when a later event omits it
        assert [v["version"] for v in reg.versions(conn, "ranker")] == ["1", "2", "3"]
        assert {a: r["version"] for a, r in reg.aliases(conn, "ranker").items()} == {"champion": "2", "challenger": "3"}
        assert [h["version"] for h in reg.alias_history(conn, "ranker", "champion")] == ["2", "1"]
        assert reg.metrics(conn, "ranker")["2"] == {"ndcg@10": 0.37, "logloss": 0.45}

    status = model_status.call(_ctx(mlops_store), {"name": "ranker"})
    assert status.live is not None and status.live.alias == "champion" and status.live.version == "2"
    assert status.live.previous_version == "1"
    assert status.live.age_days == pytest.approx(10.5)
    ndcg = next(m for m in status.live.metrics if m.key == "ndcg@10")
    assert ndcg.previous == 0.40 and ndcg.better is False and ndcg.relative_change == pytest.approx(-0.075)
    logloss = next(m for m in status.live.metrics if m.key == "logloss")
    assert logloss.better is True and not logloss.higher_is_better
    assert status.recommendation == "investigate"
    assert any("ndcg@10" in r and "7.5% worse than v1" in r for r in status.reasons)
    assert any("never checked for drift" in r for r in status.reasons)


def test_legacy_stage_is_the_fallback_for_live(mlops_store) -> None:  # type: ignore[no-untyped-def]
    _register(mlops_store, [{"name": "churn", "versions": [
        {"version": "4", "stage": "Production", "trained_at": "2026-11-01"},
        {"version": "5", "stage": "Staging", "trained_at": "2026-11-15"},
    ]}], NOW)
    status = model_status.call(_ctx(mlops_store), {"name": "churn"})
    assert status.live is not None and status.live.version == "4" and status.live.alias is None
    assert status.live.stage == "Production"


def test_unknown_model_suggests_close_names(mlops_store) -> None:  # type: ignore[no-untyped-def]
    _register(mlops_store, [RANKER_V1], NOW)
    with pytest.raises(ToolError) as err:
        model_status.call(_ctx(mlops_store), {"name": "rankr"})
    assert "ranker" in err.value.choices


def _windows(store, shift: float) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"price": rng.normal(10, 2, 3000), "country": rng.choice(["de", "fr", "uk"], 3000),
                        "score": rng.normal(0, 1, 3000)})
    cur = pd.DataFrame({"price": rng.normal(10 + shift, 2, 2000), "country": rng.choice(["de", "fr", "uk"], 2000),
                        "score": rng.normal(shift, 1, 2000)})
    with store.engine.begin() as conn:
        reg.save_window(conn, "ranker", "reference", ref, NOW.timestamp())
        reg.save_window(conn, "ranker", "2026-11-20", cur, NOW.timestamp(), start=NOW.timestamp() - 86400, end=NOW.timestamp())


def test_drift_over_threshold_becomes_an_event_for_the_service(mlops_store) -> None:  # type: ignore[no-untyped-def]
    _register(mlops_store, [RANKER_V1, RANKER_V2], NOW - timedelta(days=5))
    _windows(mlops_store, shift=1.5)
    result = drift_report.call(_ctx(mlops_store), {"model": "ranker", "target": "score", "record": True})
    assert result.reference == "ranker/reference" and result.current == "ranker/2026-11-20"
    assert result.report.features[0].column == "price" and result.report.features[0].drifted
    assert result.report.prediction is not None and result.report.prediction.drifted
    assert result.event_id is not None
    with mlops_store.engine.connect() as conn:
        events = reg.recent_drift_events(conn, NOW.timestamp() - 60, NOW.timestamp() + 60, services=["search"])
        assert len(events) == 1
        ev = events[0]
        assert ev["model"] == "ranker" and ev["service"] == "search" and ev["features"] == ["price", "score"]
        assert ev["method"] == "wasserstein" and ev["score"] == pytest.approx(result.report.features[0].score)
        assert reg.recent_drift_events(conn, NOW.timestamp() - 60, NOW.timestamp() + 60, services=["checkout"]) == []
        assert reg.recent_drift_events(conn, NOW.timestamp() + 60, NOW.timestamp() + 120) == []
    again = drift_report.call(_ctx(mlops_store), {"model": "ranker", "target": "score", "record": True})
    assert (again.report_id, again.event_id) == (result.report_id, result.event_id)  # no duplicate event
    status = model_status.call(_ctx(mlops_store), {"name": "ranker"})
    assert status.recommendation == "retrain"
    assert status.drift is not None and status.drift.dataset_drift and status.drift.prediction_drifted


def test_no_drift_records_a_report_but_no_event(mlops_store) -> None:  # type: ignore[no-untyped-def]
    _register(mlops_store, [RANKER_V1, RANKER_V2], NOW - timedelta(days=5))
    _windows(mlops_store, shift=0.0)
    result = drift_report.call(_ctx(mlops_store), {"model": "ranker", "record": True})
    assert result.report.n_drifted == 0 and result.report_id is not None and result.event_id is None
    with mlops_store.engine.connect() as conn:
        assert reg.recent_drift_events(conn, 0, NOW.timestamp() + 1) == []
        assert reg.latest_drift_report(conn, "ranker")["n_drifted"] == 0


def test_reading_drift_never_writes(mlops_store) -> None:  # type: ignore[no-untyped-def]
    """drift_report is offered to the agent as read-only: without record=True it stores nothing."""
    _register(mlops_store, [RANKER_V1, RANKER_V2], NOW - timedelta(days=5))
    _windows(mlops_store, shift=1.5)
    result = drift_report.call(_ctx(mlops_store), {"model": "ranker", "target": "score"})
    assert result.report.dataset_drift and (result.report_id, result.event_id) == (None, None)
    with mlops_store.engine.connect() as conn:
        assert reg.latest_drift_report(conn, "ranker") is None
        assert reg.recent_drift_events(conn, 0, NOW.timestamp() + 1) == []
    # store:MODEL/… on both sides names the model: same title and prediction column as `drift ranker`
    bare = drift_report.call(_ctx(mlops_store), {"reference": "store:ranker/reference", "current": "store:ranker/latest"})
    assert bare.model == "ranker" and bare.service == "search"


def test_store_sources_are_checked(mlops_store) -> None:  # type: ignore[no-untyped-def]
    _register(mlops_store, [RANKER_V1], NOW)
    with pytest.raises(ToolError, match="No feature windows"):
        drift_report.call(_ctx(mlops_store), {"model": "ranker"})
    _windows(mlops_store, 0.0)
    with pytest.raises(ToolError) as err:
        drift_report.call(_ctx(mlops_store), {"reference": "store:ranker/reference", "current": "store:ranker/nope"})
    assert "2026-11-20" in err.value.choices
    with pytest.raises(ToolError, match="logged feature windows only"):
        drift_report.call(_ctx(mlops_store), {"reference": "/etc/passwd", "current": "/etc/passwd"})
    with pytest.raises(ToolError, match="CSV or Parquet"):
        drift_report.call(_ctx(mlops_store, files=True), {"reference": "/etc/passwd", "current": "/etc/passwd"})


def test_drift_report_from_files(mlops_store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(9)
    pd.DataFrame({"x": rng.normal(0, 1, 500), "c": rng.choice(list("abc"), 500)}).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame({"x": rng.normal(1, 1, 400), "c": rng.choice(list("abcd"), 400)}).to_parquet(tmp_path / "cur.parquet")
    result = drift_report.call(_ctx(mlops_store, files=True), {"reference": str(tmp_path / "ref.csv"), "current": str(tmp_path / "cur.parquet")})
    by = {f.column: f for f in result.report.features}
    assert by["x"].method == "ks" and by["x"].drifted
    assert by["c"].method == "chisquare" and by["c"].unseen_categories == ["d"]


def test_ingest_file_shapes_and_errors() -> None:
    models, errors = parse_models('[{"name": "a", "version": 1, "stage": "Production"}, {"name": "b", "version": "1", "stage": "Live"}]')
    assert [m.name for m in models] == ["a"] and models[0].versions[0].stage == "Production"
    assert errors and "stage" in errors[0].error and errors[0].line == 2
    single, errs = parse_models('{"name": "c", "versions": [{"version": "7", "aliases": ["Champion"]}]}')
    assert not errs and single[0].versions[0].aliases == ["champion"]
