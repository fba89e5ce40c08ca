"""The demo: the same answers every run and every day, in its own store, never the user's."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy import func, select

from bot import demo
from tools.delivery.models import DeploymentEvent
from tools.settings import Settings
from tools.store import Store
from tools.store.alerts import alert_incidents
from tools.store.alerts import alerts as alerts_table
from tools.store.delivery import deployments, incidents, upsert_deployments
from tools.store.models import drift_reports

TABLES = {"deployments": deployments, "incidents": incidents, "alerts": alerts_table,
          "alert_incidents": alert_incidents, "drift_reports": drift_reports}


def _settings(home: Path, **extra: object) -> Settings:
    return Settings(**{"_env_file": None, "home": home, "database_url": None, **extra})


def _counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for name, t in TABLES.items()}


def _run(settings: Settings, **kw: object) -> str:
    out = io.StringIO()
    demo.run(settings, demo.DEMO_SEED, kw.pop("anchor", demo.DEMO_ANCHOR), Console(file=out, width=100),
             **kw)  # type: ignore[arg-type]
    return out.getvalue()


def _user_store_with_one_deployment(settings: Settings) -> Store:
    store = Store.from_settings(settings)
    with store.engine.begin() as conn:
        upsert_deployments(conn, [DeploymentEvent.model_validate(
            {"id": "mine-1", "service": "checkout", "finished_at": datetime(2026, 11, 19, tzinfo=UTC),
             "status": "success"})])
    return store


@pytest.mark.slow
def test_two_runs_answer_the_same_and_leave_the_user_store_alone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    user = _user_store_with_one_deployment(settings)
    user_before = _counts(user)

    first = _run(settings)
    demo_store = Store.from_settings(demo.demo_settings(settings))
    counts = _counts(demo_store)
    blocks = (tmp_path / "demo" / "03-dora-checkout-30d.json").read_text()
    second = _run(settings)

    assert second == first
    assert _counts(demo_store) == counts  # nothing counted twice
    assert (tmp_path / "demo" / "03-dora-checkout-30d.json").read_text() == blocks
    assert counts["deployments"] > 100 and counts["alerts"] > 0 and counts["drift_reports"] > 0
    assert _counts(user) == user_before
    assert user_before == {"deployments": 1, "incidents": 0, "alerts": 0, "alert_incidents": 0,
                           "drift_reports": 0}
    with demo_store.engine.connect() as conn:  # the user's deployment is not in the demo
        ids = {r[0] for r in conn.execute(select(deployments.c.id))}
    assert "mine-1" not in ids
    assert "2026-10-21 → 2026-11-20" in first  # the fixed clock's window, whatever today is


def test_the_demo_home_is_its_own_even_with_a_user_database(tmp_path: Path) -> None:
    settings = _settings(tmp_path, database_url="postgresql://u@db.example/triops",
                         services_file=tmp_path / "mine.yaml", chroma_url="http://chroma:8000")
    d = demo.demo_settings(settings)
    assert d.home == tmp_path / "demo"
    assert (d.database_url, d.services_file, d.chroma_url) == (None, None, None)
    assert d.sqlalchemy_url == f"sqlite:///{(tmp_path / 'demo' / 'triops.db').resolve()}"
    assert d.services_path == tmp_path / "demo" / "services.yaml"
    assert settings.database_url == "postgresql://u@db.example/triops"  # the user's untouched


def test_seeding_again_reuses_and_another_anchor_or_reset_reseeds(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rt, sc = demo.seed(settings)
    assert rt.settings.home == tmp_path / "demo"
    assert rt.ctx.now() == demo.DEMO_ANCHOR == sc.now
    seeded = _counts(rt.store)
    assert seeded["deployments"] == len(sc.deployments)

    rt, _ = demo.seed(settings)
    assert _counts(rt.store) == seeded

    later = demo.DEMO_ANCHOR + timedelta(days=3)
    rt, sc_later = demo.seed(settings, anchor=later)
    assert _counts(rt.store)["deployments"] == len(sc_later.deployments)  # replaced, not added
    assert json.loads((tmp_path / "demo" / "scenario.json").read_text())["anchor"] == later.isoformat()

    rt, _ = demo.seed(settings, reset=True, anchor=later)
    assert _counts(rt.store)["deployments"] == len(sc_later.deployments)
    assert not (tmp_path / "triops.db").exists()  # the user's store was never opened


def test_a_seed_cut_short_is_redone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    rt, sc = demo.seed(settings)
    (tmp_path / "demo" / "scenario.json").unlink()  # as if the process died while loading
    rt, _ = demo.seed(settings)
    assert _counts(rt.store)["deployments"] == len(sc.deployments)


def test_the_demo_conversation_starts_afresh(tmp_path: Path) -> None:
    from tools import conversations
    from tools.store.conversations import Turn

    settings = _settings(tmp_path)
    rt, _ = demo.seed(settings)
    key = demo.demo_asker().conversation_key
    conversations.append_turn(rt.store, key, Turn(question="q", answer="a"), 10, 1000)
    assert conversations.forget(rt.store, key) and not conversations.exists(rt.store, key)
    assert not conversations.forget(rt.store, key)
