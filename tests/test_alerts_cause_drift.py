"""Model drift reaches correlation through the real store: the drift_report tool records
the event, the pipeline's default change providers read it, and the incident names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.router import Router
from bot.runtime import Runtime
from tests.alerts_helpers import mk
from tools.alerts.changes import default_providers, drift_changes, gather_changes
from tools.alerts.pipeline import AlertPipeline
from tools.mlops.schemas import ModelIn
from tools.scenario.models import _features
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import models as reg

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def runtime(tmp_path):  # type: ignore[no-untyped-def]
    rt = Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog(), clock=lambda: NOW)
    rng = np.random.default_rng(11)
    t = NOW.timestamp()
    with rt.store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(
            name="ranker", service="ranking", prediction_column="score",
            versions=[{"version": "3", "trained_at": NOW - timedelta(days=20), "aliases": ["champion"]}],
        )], t - 19 * 86400)
        reg.save_window(conn, "ranker", "reference", _features(rng, 3000, broken=False), t - 86400)
        reg.save_window(conn, "ranker", "latest-hour", _features(rng, 3000, broken=True), t - 60)
    yield rt
    rt.store.close()


def test_drift_recorded_by_the_drift_report_tool_is_a_suspect_change_of_the_incident(runtime) -> None:  # type: ignore[no-untyped-def]
    assert Router(runtime).handle("drift ranker").results[0].output.event_id is None  # asking is not recording
    result = runtime.call("drift_report", {"model": "ranker", "record": True})
    assert result.event_id is not None and result.service == "ranking"  # the real tool stored an event

    with runtime.store.engine.connect() as conn:
        (ch,) = drift_changes(conn, ["ranking", "search"], NOW.timestamp() - 3600, NOW.timestamp() + 600)
    assert (ch.kind, ch.id, ch.service, ch.status) == ("model_drift", str(result.event_id), "ranking", "drifted")
    assert ch.summary.startswith("model ranker: drift in ") and "its threshold" in ch.summary

    # ten minutes later ranking and search (which depends on it) alert: the incident names the drift
    later = NOW + timedelta(minutes=10)
    p = AlertPipeline(runtime.store, catalog(), providers=default_providers(), clock=lambda: later)
    t = later.timestamp() - mk("x", None, 0).starts_at.timestamp()
    (iid,) = p.ingest([mk("RankingErrors", "ranking", t), mk("SearchLatency", "search", t + 40)]).opened
    summary = p.summary(iid)
    assert summary is not None and summary.suspect_change is not None
    assert summary.suspect_change.kind == "model_drift" and summary.suspect_change.id == str(result.event_id)
    top = summary.causes[0]
    assert top.service == "ranking" and top.change_lead_s == pytest.approx(600.0)
    change = next(f for f in top.facts if f.kind == "change")
    assert change.change_kind == "model_drift" and change.lead_s == pytest.approx(600.0)
    assert any("rolling back model drift" in r for r in top.refuted_if)


def test_a_broken_change_provider_surfaces_instead_of_being_logged_away(runtime) -> None:  # type: ignore[no-untyped-def]
    def broken(conn, services, start, end):  # type: ignore[no-untyped-def]
        raise ValueError("status: Input should be a valid string")

    with runtime.store.engine.connect() as conn, pytest.raises(ValueError, match="valid string"):
        gather_changes(conn, [broken], ["ranking"], 0.0, 1.0)
