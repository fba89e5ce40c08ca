"""The MLflow adapter against MLflow's REST API: a loopback double replaying answers
recorded from a real mlflow 3.17 server, and (when TRIOPS_TEST_MLFLOW_URL points at a
server populated by tests/fixtures/mlflow/record.py) that real server."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from tests.mlflow_double import MlflowDouble
from tests.mlops_fixtures import BACKENDS, open_store
from tools.contract import ToolContext
from tools.errors import ToolError
from tools.mlops.mlflow_client import MlflowClient, sync
from tools.mlops.tool import model_status
from tools.settings import Settings
from tools.store import models as reg

NOW = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def mlops_store(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_store(request.param, tmp_path)


def _check_synced(store) -> None:  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        assert reg.model_names(conn) == ["churn", "search-ranker"]
        ranker = reg.get_model(conn, "search-ranker")
        assert ranker["service"] == "ranking" and ranker["team"] == "relevance" and ranker["source"] == "mlflow"
        assert {a: r["version"] for a, r in reg.aliases(conn, "search-ranker").items()} == {"champion": "2", "challenger": "3"}
        assert reg.aliases(conn, "churn") == {}
        assert reg.metrics(conn, "search-ranker")["2"] == {"ndcg_at_10": 0.433, "val_loss": 0.288}
        churn = {v["version"]: v for v in reg.versions(conn, "churn")}
        assert churn["2"]["stage"] == "Production" and churn["1"]["stage"] == "Archived"
        assert churn["1"]["training_data"] == "s3://ml/churn/2026-06"
        assert churn["2"]["trained_at"] is not None
    ctx = ToolContext(settings=Settings(), store=store, catalog=None, clock=lambda: NOW)
    ranker_status = model_status.call(ctx, {"name": "search-ranker"})
    assert ranker_status.live is not None and ranker_status.live.version == "2"
    assert ranker_status.live.alias == "champion" and ranker_status.live.previous_version == "1"
    ndcg = next(m for m in ranker_status.live.metrics if m.key == "ndcg_at_10")
    assert ndcg.previous == 0.412 and ndcg.better is True
    churn_status = model_status.call(ctx, {"name": "churn"})  # no alias: the deprecated stage decides
    assert churn_status.live is not None and churn_status.live.version == "2" and churn_status.live.stage == "Production"


def test_sync_from_recorded_mlflow(mlops_store) -> None:  # type: ignore[no-untyped-def]
    with MlflowDouble(page_size=1) as double, MlflowClient(double.url, token="s3cret") as client:
        report = sync(mlops_store, client, NOW.timestamp())
    assert (report.models, report.versions, report.runs_read) == (2, 5, 5)
    assert double.requests.count("registered-models/search") == 2  # followed next_page_token
    assert set(double.auth) == {"Bearer s3cret"}
    # churn has no aliases: the adapter asked for the two it cares about, and got "not found"
    assert double.requests.count("registered-models/alias") == 2
    _check_synced(mlops_store)


def test_a_moved_alias_is_moved_here_too(mlops_store) -> None:  # type: ignore[no-untyped-def]
    with MlflowDouble() as double, MlflowClient(double.url) as client:
        sync(mlops_store, client, NOW.timestamp() - 3600)
        key = next(k for k in double.answers if k.startswith("GET registered-models/search"))
        ranker = next(m for m in double.answers[key]["registered_models"] if m["name"] == "search-ranker")
        ranker["aliases"] = [{"alias": "champion", "version": "3"}]
        sync(mlops_store, client, NOW.timestamp())
    with mlops_store.engine.connect() as conn:
        assert {a: r["version"] for a, r in reg.aliases(conn, "search-ranker").items()} == {"champion": "3"}
        assert [h["version"] for h in reg.alias_history(conn, "search-ranker", "champion")] == ["3", "2"]


def test_errors_are_clear() -> None:
    with MlflowDouble(answers={}) as double, MlflowClient(double.url) as client, pytest.raises(ToolError, match="404"):
        list(client.registered_models())
    with MlflowClient("http://127.0.0.1:9", timeout=1) as client, pytest.raises(ToolError, match="not reachable"):
        list(client.registered_models())


@pytest.mark.skipif(not os.environ.get("TRIOPS_TEST_MLFLOW_URL"), reason="TRIOPS_TEST_MLFLOW_URL not set")
def test_sync_from_a_real_mlflow_server(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = next(open_store("sqlite", tmp_path))
    with MlflowClient(os.environ["TRIOPS_TEST_MLFLOW_URL"]) as client:
        report = sync(store, client, NOW.timestamp())
    assert report.models == 2 and report.versions == 5
    _check_synced(store)


def test_cli_sync_then_status(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bot.cli import app

    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    runner = CliRunner()
    with MlflowDouble() as double:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", double.url)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok")
        out = runner.invoke(app, ["model", "sync-mlflow"])
        assert out.exit_code == 0, out.output
        assert "synced 2 models, 5 versions (5 runs)" in out.output
        assert set(double.auth) == {"Bearer tok"}
    listed = runner.invoke(app, ["model", "list"])
    assert "search-ranker\tranking\tmlflow" in listed.output
    status = runner.invoke(app, ["model", "status", "churn"])
    assert status.exit_code == 0 and "stage Production" in status.output
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "file:///tmp/mlruns")
    bad = runner.invoke(app, ["model", "sync-mlflow"])
    assert bad.exit_code == 2 and "No MLflow server URL" in bad.output
