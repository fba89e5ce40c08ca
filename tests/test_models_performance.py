"""Performance without labels: CBPE / DLE maths (pure), then the real path — windows and
delayed labels through the CLI and the webhook, `model_performance` and `model_status` on
SQLite and PostgreSQL, and the bad inputs the issue lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.render import to_blocks, to_text
from bot.render.charts import images
from bot.render.mlops import status_text
from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests.mlops_fixtures import BACKENDS, open_store
from tools.contract import ToolContext
from tools.errors import ToolError
from tools.mlops.estimate import CBPE, DLE, EstimateInputError, estimate_window
from tools.mlops.performance import attach_labels
from tools.mlops.schemas import ModelIn
from tools.mlops.tool import model_performance, model_status
from tools.settings import Settings
from tools.store import models as reg

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _binary(rng: np.random.Generator, n: int, shift: float = 0.0, power: float = 1.0, scale: float = 1.0) -> pd.DataFrame:
    """A logistic model of x; `power` distorts its probabilities (p**power: miscalibrated);
    a small `scale` puts the traffic near the decision boundary, where the model errs."""
    x = rng.normal(shift, scale, n)
    p = 1 / (1 + np.exp(-2 * x))
    y = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"x": x, "y_pred_proba": p**power, "y_pred": (p >= 0.5).astype(int), "label": y})


def test_cbpe_estimates_binary_metrics_within_the_band() -> None:
    rng = np.random.default_rng(0)
    ref, cur = _binary(rng, 20_000, power=3), _binary(rng, 20_000, shift=1.0, power=3)
    model = CBPE.fit(ref.label, ref.y_pred_proba, ref.y_pred, chunk_size=5000)
    assert model.calibration == "isotonic"  # p**3 is miscalibrated: calibration is needed
    est = estimate_window(model, proba=cur.y_pred_proba, y_pred=cur.y_pred, y_true=cur.label, chunk_size=5000)
    assert [c.rows for c in est.chunks] == [5000] * 4
    for chunk in [est.overall, *est.chunks]:
        for m in chunk.metrics:
            assert m.estimate is not None and m.realised is not None and m.lower is not None and m.upper is not None
            assert abs(m.estimate - m.realised) < 0.02, m
            assert m.lower <= m.estimate <= m.upper
    acc = est.overall.get("accuracy")
    assert acc is not None and acc.estimate is not None and acc.alert and acc.estimate > acc.reference  # easier traffic


def test_cbpe_multiclass_and_dle_regression() -> None:
    rng = np.random.default_rng(1)
    n = 12_000
    logits = rng.normal(size=(n, 3)) * 2
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(["a", "b", "c"])[[rng.choice(3, p=row) for row in proba]]
    half = n // 2
    model = CBPE.fit(y[:half], proba[:half], classes=["a", "b", "c"], chunk_size=3000)
    est = estimate_window(model, proba=proba[half:], y_true=y[half:], chunk_size=3000)
    assert est.task == "multiclass" and est.classes == ["a", "b", "c"]
    for m in est.overall.metrics:
        assert m.estimate is not None and m.realised is not None and abs(m.estimate - m.realised) < 0.03, m

    feats = pd.DataFrame({"a": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    noise = np.where(feats.a > 0, 2.0, 0.5) * rng.normal(size=n)
    truth, pred = feats.a * 3 + noise, feats.a * 3
    dle = DLE.fit(feats[:half], pred[:half], truth[:half], chunk_size=3000)
    shifted = pd.DataFrame({"a": rng.normal(1, 1, half), "c": rng.choice(list("xyz"), half)})
    noise2 = np.where(shifted.a > 0, 2.0, 0.5) * rng.normal(size=half)
    est = estimate_window(dle, features=shifted, y_pred=shifted.a * 3, y_true=shifted.a * 3 + noise2)
    mae = est.overall.get("mae")
    assert mae is not None and mae.estimate is not None and mae.realised is not None
    assert abs(mae.estimate - mae.realised) < 0.1 and mae.alert and mae.estimate > mae.reference  # worse on the noisy side


def test_dle_window_is_one_prediction_sliced_like_each_chunk_alone() -> None:
    """estimate_window predicts the loss model once for the window and slices it: every chunk
    (rows without a prediction skipped, labels where they exist) equals that chunk estimated alone."""
    rng = np.random.default_rng(3)
    n = 9_000
    feats = pd.DataFrame({"a": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})
    truth = feats.a * 3 + np.where(feats.c == "x", 2.0, 0.5) * rng.normal(size=n)
    pred = (feats.a * 3).to_numpy()
    dle = DLE.fit(feats[:6000], pred[:6000], truth[:6000], chunk_size=1000)
    cur, yp, yt = feats[6000:].reset_index(drop=True), pred[6000:].copy(), truth[6000:].to_numpy().copy()
    yp[[5, 1500, 1501]] = np.nan  # no prediction: skipped
    yt[2000:] = np.nan  # labels arrived for the first 2,000 rows only
    est = estimate_window(dle, features=cur, y_pred=yp, y_true=yt, chunk_size=1000)
    assert est.skipped_rows == 3 and est.overall.rows == 2997 and [c.rows for c in est.chunks] == [999, 998, 1000]
    for chunk in est.chunks:
        alone, skipped = dle.estimate(cur.iloc[chunk.start:chunk.end], yp[chunk.start:chunk.end], yt[chunk.start:chunk.end],
                                      start=chunk.start)
        assert (alone.start, alone.end, alone.rows) == (chunk.start, chunk.end, chunk.rows)
        assert skipped == chunk.end - chunk.start - chunk.rows
        for m in chunk.metrics:
            other = alone.get(m.metric)
            assert other is not None and m.estimate == pytest.approx(other.estimate) and m.realised == other.realised
    assert est.chunks[2].get("mae").realised is None  # type: ignore[union-attr]
    assert est.chunks[0].get("mae").realised is not None  # type: ignore[union-attr]


def test_bad_inputs_get_clear_errors_and_big_windows_stay_linear() -> None:
    rng = np.random.default_rng(2)
    ref = _binary(rng, 5000)
    with pytest.raises(EstimateInputError, match="one class only"):
        CBPE.fit(np.ones(5000, dtype=int), ref.y_pred_proba)
    with pytest.raises(EstimateInputError, match="no labels"):
        CBPE.fit(pd.Series([np.nan] * 5000), ref.y_pred_proba)
    with pytest.raises(EstimateInputError, match=r"not in \[0, 1\]"):
        CBPE.fit(ref.label, ref.x)
    model = CBPE.fit(ref.label, ref.y_pred_proba)
    holes = ref.y_pred_proba.copy()
    holes[:100] = np.nan
    est = estimate_window(model, proba=holes)
    assert est.skipped_rows == 100 and est.overall.rows == 4900
    with pytest.raises(EstimateInputError, match="No current row has a probability"):
        estimate_window(model, proba=np.full(10, np.nan))
    big = _binary(rng, 1_000_000, shift=0.3)
    est = estimate_window(model, proba=big.y_pred_proba.to_numpy(), chunk_size=250_000)
    assert len(est.chunks) == 4 and est.overall.rows == 1_000_000


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):  # type: ignore[no-untyped-def]
    yield from open_store(request.param, tmp_path)


def _ctx(store) -> ToolContext:  # type: ignore[no-untyped-def]
    return ToolContext(settings=Settings(), store=store, catalog=None, clock=lambda: NOW)


def _seed(store, rng: np.random.Generator, *, scale: float, labels_on_reference: bool = True) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    ref = _binary(rng, 6000)
    ref.insert(0, "id", np.arange(6000))
    cur = _binary(rng, 3000, scale=scale)
    cur.insert(0, "id", np.arange(10_000, 13_000))
    with store.engine.begin() as conn:
        reg.upsert_models(conn, [ModelIn(name="fraud", service="payments", prediction_column="y_pred",
                                         versions=[{"version": "4", "aliases": ["champion"],
                                                    "trained_at": NOW - timedelta(days=10)}])], NOW.timestamp())
        reg.save_window(conn, "fraud", "reference", ref if labels_on_reference else ref.drop(columns="label"),
                        NOW.timestamp() - 86400)
        reg.save_window(conn, "fraud", "2026-11-20", cur.drop(columns="label"), NOW.timestamp(), end=NOW.timestamp())
    return cur


def test_estimate_without_labels_drives_the_recommendation(store) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    _seed(store, rng, scale=0.3)  # traffic near the decision boundary: accuracy falls
    result = model_performance.call(_ctx(store), {"model": "fraud"})
    assert result.current == "fraud/2026-11-20" and result.labels == "none"
    assert result.columns.proba == ["y_pred_proba"] and result.columns.prediction == "y_pred"
    acc = result.estimate.overall.get("accuracy")
    assert acc is not None and acc.estimate is not None and acc.alert and acc.realised is None
    assert acc.estimate < acc.reference - 0.05
    status = model_status.call(_ctx(store), {"name": "fraud"})
    assert status.recommendation == "retrain"
    assert status.reasons[0].startswith(f"estimated accuracy {acc.estimate:.2f} (band ")
    assert f"vs {acc.reference:.2f} on reference" in status.reasons[0]
    assert f"- performance: estimated accuracy {acc.estimate:.2f}" in status_text(status)


def test_performance_holding_turns_input_drift_into_investigate(store) -> None:  # type: ignore[no-untyped-def]
    from tools.mlops.tool import drift_report

    rng = np.random.default_rng(4)
    _seed(store, rng, scale=1.0)
    with store.engine.begin() as conn:  # a feature that moved without hurting the model
        cur = reg.load_window(conn, "fraud", "2026-11-20")
        assert cur is not None
        cur["region"] = rng.choice(["de", "fr"], len(cur))
        cur["x2"] = rng.normal(3, 1, len(cur))
        ref = reg.load_window(conn, "fraud", "reference")
        assert ref is not None
        ref["region"] = rng.choice(["de", "uk"], len(ref))
        ref["x2"] = rng.normal(0, 1, len(ref))
        reg.save_window(conn, "fraud", "reference", ref, NOW.timestamp() - 86400)
        reg.save_window(conn, "fraud", "2026-11-20", cur, NOW.timestamp(), end=NOW.timestamp())
    drift_report.call(_ctx(store), {"model": "fraud", "record": True})
    status = model_status.call(_ctx(store), {"name": "fraud"})
    assert status.drift is not None and status.drift.dataset_drift
    assert status.recommendation == "investigate"
    assert any("features drifted, but estimated accuracy" in r and "holds" in r for r in status.reasons)


def test_unusable_windows_say_why(store) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    cur = _seed(store, rng, scale=1.0, labels_on_reference=False)
    with store.engine.begin() as conn:  # labels only on current
        reg.save_window(conn, "fraud", "2026-11-20", cur, NOW.timestamp(), end=NOW.timestamp())
    with pytest.raises(ToolError, match="has no label column") as err:
        model_performance.call(_ctx(store), {"model": "fraud"})
    assert "calibrates on labelled reference rows" in (err.value.hint or "")
    with store.engine.begin() as conn:
        ref = reg.load_window(conn, "fraud", "reference")
        assert ref is not None
        reg.save_window(conn, "fraud", "reference", ref.drop(columns=["y_pred_proba"]).assign(label=0),
                        NOW.timestamp() - 86400)
    with pytest.raises(ToolError, match="no predicted probabilities"):
        model_performance.call(_ctx(store), {"model": "fraud"})
    assert model_status.call(_ctx(store), {"name": "fraud"}).performance is None  # a model without probabilities
    with pytest.raises(ToolError, match="No model named"):
        model_performance.call(_ctx(store), {"model": "fraudd"})


def test_delayed_labels_through_cli_and_webhook_show_realised(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    monkeypatch.setenv("TRIOPS_HOME", str(home))
    rng = np.random.default_rng(6)
    rt = Runtime.build(Settings(TRIOPS_HOME=home), clock=lambda: NOW)
    cur = _seed(rt.store, rng, scale=0.3, labels_on_reference=False)
    with rt.store.engine.connect() as conn:
        ref = reg.load_window(conn, "fraud", "reference")
    assert ref is not None
    # the reference's labels arrive later, drawn from its own probabilities, in another order
    labels = pd.DataFrame({"id": ref["id"], "label": (rng.random(len(ref)) < ref.y_pred_proba).astype(int)}).sample(frac=1, random_state=1)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["ingest", "labels", "fraud", "reference", str(tmp_path / "labels.csv")])
    assert out.exit_code == 0, out.output
    assert "stored 6,000 labels for store:fraud/reference" in out.output
    with rt.store.engine.connect() as conn:  # kept as sent: joined back to the window by id, not by position
        stored = reg.load_labels(conn, "fraud", "reference")
        assert stored is not None
        joined = attach_labels(conn, "fraud", "reference", ref, "label")
    assert joined["label"].tolist() == labels.set_index("id").loc[ref["id"], "label"].tolist()
    bad = runner.invoke(cli_app, ["ingest", "labels", "fraud", "nope", str(tmp_path / "labels.csv")])
    assert bad.exit_code == 2 and "no window 'nope'" in bad.output

    http = TestClient(create_app(Router(rt)))
    half = cur.iloc[:1500]
    ok = http.post("/hooks/models/fraud/labels/2026-11-20", json=[{"id": int(i), "label": int(v)} for i, v in zip(half.id, half.label, strict=True)])
    assert ok.status_code == 202 and ok.json() == {"labels": 1500, "source": "store:fraud/2026-11-20"}
    mismatch = http.post("/hooks/models/fraud/labels/2026-11-20", json=[{"label": 1}] * 10)
    assert mismatch.status_code == 422 and "no shared id column" in mismatch.json()["detail"]["error"]

    reply = Router(rt).handle("performance fraud chunk=1000")
    result = reply.results[0].output
    assert result.labels == "partial" and len(result.estimate.chunks) == 3
    acc = result.estimate.overall.get("accuracy")
    assert acc is not None and acc.realised is not None and acc.estimate is not None
    assert abs(acc.realised - acc.estimate) < 0.05
    first = result.estimate.chunks[0].get("accuracy")
    assert first is not None and first.realised is not None and result.estimate.chunks[2].metrics[0].realised is None
    text = to_text(reply)
    assert "Performance · fraud (payments)" in text and "realised" in text and "PERFORMANCE ALERT" in text
    assert "Performance · fraud" in str(to_blocks(reply))
    (name, png), = images(reply)
    assert name == "performance-fraud.png" and png[:8] == b"\x89PNG\r\n\x1a\n"
    cli = runner.invoke(cli_app, ["model", "performance", "fraud"])
    assert cli.exit_code == 0, cli.output
    assert "PERFORMANCE ALERT" in cli.output
    rt.store.close()


def test_cli_and_slack_say_the_same_about_the_same_drift(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One rendering of one result: `triops drift store:M store:M/latest` on the terminal and
    `/triops drift M` in Slack name the model, count the same features and the prediction."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRIOPS_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "250")
    rng = np.random.default_rng(8)
    rt = Runtime.build(Settings(TRIOPS_HOME=home), clock=lambda: NOW)
    _seed(rt.store, rng, scale=0.3)
    reply = Router(rt).handle("drift fraud")
    slack = to_blocks(reply)
    summary = slack[1]["text"]["text"].strip("*")
    title = slack[0]["text"]["text"]
    assert title.startswith("Drift · fraud (payments)") and "prediction y_pred" in summary
    out = CliRunner().invoke(cli_app, ["drift", "store:fraud", "store:fraud/latest"])
    assert out.exit_code == 0, out.output
    assert summary in out.output and title in out.output and "data" not in title
    rt.store.close()


def test_labels_of_mixed_kinds_are_refused_with_the_reason_on_both_surfaces(store, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A label or id column holding numbers and text cannot go into the columnar store: the
    webhook answers 422 naming the column and row (it was a 500 from pyarrow), the CLI says the
    same without a traceback, and nothing is stored either way."""
    _seed(store, np.random.default_rng(8), scale=1.0)
    http = TestClient(create_app(Router(Runtime.build(Settings(_env_file=None), store=store, clock=lambda: NOW))))
    for rows, column in (([{"id": 10_000, "label": 1}, {"id": 10_001, "label": "a"}], "label"),
                         ([{"id": 10_000, "label": 1}, {"id": "x", "label": 0}], "id")):
        got = http.post("/hooks/models/fraud/labels/2026-11-20", json=rows)
        assert got.status_code == 422, got.text
        assert f"column {column!r} mixes numbers and strings" in got.json()["detail"]["error"]
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRIOPS_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    for text, column in (("id,label\n10000,1\n10001,a\n", "label"), ("id,label\n10000,1\nx,0\n", "id")):
        (tmp_path / "mixed.csv").write_text(text)
        out = runner.invoke(cli_app, ["ingest", "labels", "fraud", "2026-11-20", str(tmp_path / "mixed.csv")])
        assert out.exit_code == 2 and isinstance(out.exception, SystemExit), out.output
        assert f"Column '{column}' mixes numbers and text (row 1: " in out.output and "Traceback" not in out.output
    with store.engine.connect() as conn:
        assert reg.load_labels(conn, "fraud", "2026-11-20") is None
    (tmp_path / "text.csv").write_text("id,label\n10000,1\n'10001',0\n".replace("'", '"'))  # quoted numbers are numbers
    ok = runner.invoke(cli_app, ["ingest", "labels", "fraud", "2026-11-20", str(tmp_path / "text.csv")])
    assert ok.exit_code == 0, ok.output
    with store.engine.connect() as conn:
        stored = reg.load_labels(conn, "fraud", "2026-11-20")
    assert stored is not None and stored["id"].tolist() == [10_000, 10_001]


def test_window_columns_mixing_true_false_and_numbers_are_refused(store, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """JSON true next to 0.2 in one window column was a 500 from pyarrow (found by the fuzz
    test): the webhook answers 422 naming the column, the store keeps nothing, and the store's
    own entry point refuses such a frame (a Parquet file can carry one too)."""
    from tools.mlops.ingest import store_window

    http = TestClient(create_app(Router(Runtime.build(Settings(_env_file=None), store=store, clock=lambda: NOW))))
    got = http.post("/hooks/models/churn/windows/live", json=[{"latency": True, "amount": 3.0}, {"latency": 0.2, "amount": 4.0}])
    assert got.status_code == 422, got.text
    assert "column 'latency' mixes booleans and numbers" in got.json()["detail"]["error"]
    assert http.post("/hooks/models/churn/windows/live", json=[{"ok": True}, {"ok": None}, {"ok": False}]).status_code == 202
    with store.engine.connect() as conn:
        assert reg.load_window(conn, "churn", "live")["ok"].tolist() == [True, None, False]
    frame = pd.DataFrame({"latency": pd.Series([0.1, True], dtype=object), "amount": [3.0, 4.0]})
    with pytest.raises(ToolError, match=r"Column 'latency' mixes true/false with numbers or text \(row 1: True after 0.1\)"):
        store_window(store, "churn", "live", frame)
    with store.engine.connect() as conn:
        assert reg.load_window(conn, "churn", "live")["ok"].tolist() == [True, None, False]  # the earlier window stands


def test_status_reuses_the_fitted_estimate_until_a_window_or_its_labels_change(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """model_status (also behind the Retrain button and each scheduled check) fitted CBPE on
    every call: now once per (model, windows as stored, labels as stored, options)."""
    from tools.mlops import performance

    fits: list[int] = []
    real_fit = CBPE.fit.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(CBPE, "fit", classmethod(lambda cls, *a, **k: fits.append(1) or real_fit(cls, *a, **k)))
    cur = _seed(store, np.random.default_rng(9), scale=0.3)
    first = model_status.call(_ctx(store), {"name": "fraud"})
    again = model_status.call(_ctx(store), {"name": "fraud"})
    assert len(fits) == 1 and first.performance == again.performance and first.recommendation == "retrain"
    with store.engine.connect() as conn:
        assert performance.estimate_model(conn, "fraud") is performance.estimate_model(conn, "fraud")
    assert len(fits) == 1
    with store.engine.begin() as conn:  # delayed labels arrive for the current window: realised values now
        reg.save_labels(conn, "fraud", "2026-11-20", cur[["id", "label"]], NOW.timestamp() + 60)
    labelled = model_performance.call(_ctx(store), {"model": "fraud"})
    assert len(fits) == 2 and labelled.labels == "all"
    with store.engine.begin() as conn:  # a new current window
        reg.save_window(conn, "fraud", "2026-11-21", cur.drop(columns="label"), NOW.timestamp() + 120, end=NOW.timestamp() + 120)
    assert model_status.call(_ctx(store), {"name": "fraud"}).performance.current == "fraud/2026-11-21"  # type: ignore[union-attr]
    assert len(fits) == 3
    monkeypatch.setattr(performance, "CACHE_SIZE", 2)
    for chunk in (500, 1000, 1500):
        model_performance.call(_ctx(store), {"model": "fraud", "chunk_size": chunk})
    assert len(performance._cache) == 2
