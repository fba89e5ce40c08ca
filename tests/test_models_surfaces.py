"""MLOps through every surface: the demo scenario's model in the router, Slack (with the
chart uploaded through files_upload_v2 against the Web API double), webhooks and the CLI."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.render import to_blocks, to_text
from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests.slack_harness import SlackHarness
from tools.scenario import build_scenario, load_scenario
from tools.settings import Settings
from tools.store import models as reg


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return build_scenario(seed=7)


@pytest.fixture(scope="module")
def seeded_db(scenario, tmp_path_factory):  # type: ignore[no-untyped-def]
    """The scenario loaded once; each test gets its own copy of the SQLite file."""
    home = tmp_path_factory.mktemp("seeded")
    rt = Runtime.build(Settings(TRIOPS_HOME=home), catalog=scenario.catalog, clock=lambda: scenario.now)
    load_scenario(rt.store, scenario)
    rt.store.close()  # the last connection checkpoints the WAL into the file
    return home / "triops.db"


@pytest.fixture
def runtime(scenario, seeded_db, tmp_path):  # type: ignore[no-untyped-def]
    shutil.copyfile(seeded_db, tmp_path / "triops.db")
    return Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=scenario.catalog, clock=lambda: scenario.now)


def _text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_demo_model_drifts_after_the_feature_store_deployment(scenario, runtime) -> None:
    part = scenario.models
    deployment = next(d for d in scenario.deployments if d.id == part.drift_deployment)
    assert deployment.service == "feature-store"  # upstream of ranking in the catalog
    assert "feature-store" in scenario.catalog.upstream("ranking")
    t = deployment.finished_at.timestamp()
    with runtime.store.engine.connect() as conn:
        after = reg.recent_drift_events(conn, t, t + 2 * 86400, services=["ranking"])
        before = reg.recent_drift_events(conn, t - 3 * 86400, t, services=["ranking"])
    assert len(after) == 1 and before == []
    assert after[0]["model"] == "search-ranker" and after[0]["features"][:2] == ["ctr_7d", "device"]
    assert after[0]["prediction_drifted"] is True


def test_model_and_drift_commands(runtime) -> None:
    router = Router(runtime)
    status = router.handle("model search-ranker")
    out = status.results[0].output
    assert out.live.version == "3" and out.live.alias == "champion" and out.live.previous_version == "2"
    assert out.recommendation == "retrain"
    # the demo's windows carry the ranker's click probability and the reference's clicks: an
    # estimate without labels, which the broken feature pushes above anything the reference saw
    perf = out.performance
    assert perf is not None and perf.method == "CBPE" and perf.headline is not None and perf.headline.lower is not None
    assert any("above the reference's range: the scores moved" in r for r in out.reasons)
    text = to_text(status)
    assert "- performance: estimated accuracy" in text and "(band " in text
    assert "RETRAIN" in text and "ctr_7d" in text and "p95_latency_ms 21 vs 19" in text
    assert "Model · search-ranker · serves ranking" in _text(to_blocks(status))

    drift = router.handle("drift search-ranker")
    result = drift.results[0].output
    assert result.current.startswith("search-ranker/after-") and result.report.prediction.drifted
    blocks = to_blocks(drift)
    assert len(blocks) <= 50
    body = _text(blocks)
    assert "🔴 score (prediction)" in body and "🔴 ctr_7d" in body and "1 unseen (8%): tv" in body
    # worst first: ctr_7d before device, drifted before stable
    assert body.index("ctr_7d") < body.index("device") < body.index("price")

    before = router.handle(f"drift search-ranker window=before-{result.current.split('after-')[1]}")
    assert before.results[0].output.report.n_drifted == 0

    unknown = router.handle("model search-rankr")
    assert unknown.ephemeral and "search-ranker" in to_text(unknown)
    bare = router.handle("drift")
    assert bare.ephemeral and "search-ranker" in to_text(bare)
    no_files = router.handle("drift search-ranker reference=../../etc")
    assert no_files.ephemeral


class _UploadSink:
    """Slack's upload URL (files.slack.com in production): takes the raw bytes on loopback."""

    def __init__(self) -> None:
        sink = self
        self.bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                sink.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/upload/F123"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_slack_drift_answers_then_uploads_the_chart(runtime) -> None:
    h = SlackHarness.start(runtime)
    sink = _UploadSink()
    try:
        h.double.responses["files.getUploadURLExternal"] = {"ok": True, "upload_url": sink.url, "file_id": "F123"}
        h.double.responses["files.completeUploadExternal"] = {"ok": True, "files": [{"id": "F123", "title": "drift"}]}
        resp, name = h.command("drift search-ranker", channel="C42")
        assert resp.status_code == 200
        posted = h.response(name)
        assert posted["response_type"] == "in_channel" and "Drift · search-ranker" in posted["text"]
        ask = h.double.wait_for("files.getUploadURLExternal")[0]
        assert ask.params["filename"] == "drift-search-ranker.png" and int(ask.params["length"]) > 1000
        done = h.double.wait_for("files.completeUploadExternal")[0]
        assert done.params["channel_id"] == "C42"
        assert sink.bodies and sink.bodies[0][:8] == b"\x89PNG\r\n\x1a\n"  # the chart itself went up
    finally:
        sink.stop()
        h.stop()


def test_slack_chart_failure_does_not_lose_the_answer(runtime) -> None:
    h = SlackHarness.start(runtime)
    try:
        h.double.responses["files.getUploadURLExternal"] = {"ok": False, "error": "missing_scope"}
        _, name = h.command("drift search-ranker")
        assert "Drift · search-ranker" in h.response(name)["text"]
        h.double.wait_for("files.getUploadURLExternal")
    finally:
        h.stop()


def test_model_hooks(runtime) -> None:
    http = TestClient(create_app(Router(runtime)))
    ok = http.post("/hooks/models", json=[{"name": "fraud", "service": "payments", "version": "12",
                                           "aliases": ["champion"], "metrics": {"auc": 0.91}}])
    assert ok.status_code == 202 and ok.json() == {"stored": 1, "models": ["fraud"]}
    bad = http.post("/hooks/models", json=[{"name": "fraud", "version": "13"}, {"name": "x", "version": "1", "stage": "Live"}])
    assert bad.status_code == 422 and "event 1" in bad.json()["detail"]["error"]
    with runtime.store.engine.connect() as conn:
        assert [v["version"] for v in reg.versions(conn, "fraud")] == ["12"]  # nothing of the bad batch
    rng = np.random.default_rng(1)
    rows = [{"amount": float(a), "country": c} for a, c in zip(rng.normal(50, 5, 300), rng.choice(["de", "fr"], 300), strict=True)]
    assert http.post("/hooks/models/fraud/windows/reference", json=rows).status_code == 202
    shifted = [{**r, "amount": r["amount"] + 20} for r in rows[:200]]
    assert http.post("/hooks/models/fraud/windows/2026-11-20", json={"rows": shifted, "end": "2026-11-20T12:00:00Z"}).status_code == 202
    assert http.post("/hooks/models/fraud/windows/x", json={"rows": []}).status_code == 422
    result = runtime.call("drift_report", {"model": "fraud", "record": True})
    assert result.report.features[0].column == "amount" and result.report.features[0].method == "ks"
    assert result.event_id is not None and result.service == "payments"


def test_cli_drift_model_status_and_ingest(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    rng = np.random.default_rng(3)
    pd.DataFrame({"x": rng.normal(0, 1, 3000), "c": rng.choice(list("ab"), 3000), "p": rng.random(3000)}).to_parquet(tmp_path / "ref.parquet")
    pd.DataFrame({"x": rng.normal(0.5, 1, 2000), "c": rng.choice(list("abz"), 2000), "p": rng.random(2000)}).to_csv(tmp_path / "cur.csv", index=False)
    out = runner.invoke(cli_app, ["drift", str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"), "--target", "p", "--json",
                                  "--chart", str(tmp_path / "chart.png")])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout[out.stdout.index("{"):])
    by = {f["column"]: f for f in result["report"]["features"]}
    assert by["x"]["method"] == "wasserstein" and by["x"]["drifted"]
    assert by["c"]["unseen_categories"] == ["z"]
    assert result["report"]["prediction"]["column"] == "p" and not result["report"]["prediction"]["drifted"]
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bad = runner.invoke(cli_app, ["drift", str(tmp_path / "nope.csv"), str(tmp_path / "cur.csv")])
    assert bad.exit_code == 2 and "No such file" in bad.output

    models = tmp_path / "models.jsonl"
    models.write_text('{"name": "ranker", "service": "search", "version": "1", "aliases": ["champion"], "trained_at": "2026-11-01"}\n'
                      '{"name": "ranker", "version": "oops", "stage": "Live"}\n')
    ing = runner.invoke(cli_app, ["ingest", "models", str(models)])
    assert ing.exit_code == 3 and "loaded 1 model versions" in ing.output and "line 2" in ing.output
    status = runner.invoke(cli_app, ["model", "status", "ranker", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["live"]["version"] == "1"
    missing = runner.invoke(cli_app, ["model", "status", "rankr"])
    assert missing.exit_code == 2 and "ranker" in missing.output
