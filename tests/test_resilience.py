"""No poison input: out-of-range times are a 422 naming the field; an alert that cannot be
correlated is parked (logged, counted in `triops alerts stats`), never blocking its service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from bot.router import Router
from bot.runtime import Runtime
from bot.web import create_app
from tests.stores import open_test_store
from tools.scenario.topology import catalog
from tools.settings import Settings
from tools.store import alerts as s
from tools.store import parked as parked_store
from tools.timebounds import bounds, check_time

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POISON = "9999-12-31T23:59:59.999999Z"


@pytest.fixture(params=["sqlite", "postgresql"])
def rt(request, tmp_path):  # type: ignore[no-untyped-def]
    for store in open_test_store(request.param, tmp_path):
        yield Runtime.build(Settings(TRIOPS_HOME=tmp_path), catalog=catalog(), store=store, clock=lambda: NOW)


def am(start: str, name: str = "HighErrorRate", service: str = "checkout") -> dict:
    return {"alerts": [{"status": "firing", "labels": {"alertname": name, "service": service}, "startsAt": start}]}


def test_bounds_never_overflow_and_name_the_field() -> None:
    lo, hi = bounds(datetime(9999, 6, 1, tzinfo=UTC), 10)
    assert hi == datetime.max.replace(tzinfo=UTC) and lo.year == 9989
    with pytest.raises(ValueError, match=r"x\.at: time out of range"):
        check_time(datetime(2040, 1, 1, tzinfo=UTC), "x.at", now=NOW, years=10)
    assert check_time(datetime(2030, 1, 1, tzinfo=UTC), "x.at", now=NOW, years=10) is not None


@pytest.mark.parametrize("path,body,field", [
    ("/hooks/alertmanager", am(POISON), "starts_at"),
    ("/hooks/alertmanager", am("0002-01-01T00:00:00Z"), "starts_at"),
    ("/hooks/alertmanager", {"alerts": [{"status": "resolved", "labels": {"alertname": "X", "service": "a"},
                                         "startsAt": "2026-12-01T10:00:00Z", "endsAt": POISON}]}, "ends_at"),
    ("/hooks/alerts", {"name": "X", "service": "checkout", "starts_at": 253402300799}, "starts_at"),
    ("/hooks/grafana", {"alerts": [{"status": "firing", "labels": {"alertname": "X"}, "startsAt": POISON}]}, "starts_at"),
    ("/hooks/deployments", {"id": "d1", "service": "checkout", "environment": "prod", "status": "success",
                            "started_at": "2026-11-01T10:00:00Z", "finished_at": POISON}, "finished_at"),
    ("/hooks/incidents", {"id": "i1", "service": "checkout", "opened_at": "1900-01-01T00:00:00Z"}, "opened_at"),
])
def test_out_of_range_times_are_a_422_naming_the_field(rt, path, body, field) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as http:
        r = http.post(path, json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]["error"] and "out of range" in r.json()["detail"]["error"]


def test_the_poison_alert_no_longer_blocks_its_service(rt) -> None:  # type: ignore[no-untyped-def]
    """Reproduces the finding: before, every later alert of the service answered 500."""
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as http:
        assert http.post("/hooks/alertmanager", json=am(POISON)).status_code == 422
        for i in range(5):
            r = http.post("/hooks/alertmanager", json=am(f"2026-12-01T11:0{i}:00Z", name=f"A{i}"))
            assert r.status_code == 202, r.text
            assert r.json()["incidents"], r.text
    with rt.store.engine.connect() as conn:
        assert all(row.incident_id for row in conn.execute(select(s.alerts)))


def test_an_alert_that_fails_correlation_is_parked_not_blocking(rt, caplog, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A bound wide enough to let year 9999 in: correlation is where it would fail. It is
    stored, parked with a logged reference, counted in the stats; the service keeps working."""
    rt.settings.time_bound_years = 100_000
    with TestClient(create_app(Router(rt)), raise_server_exceptions=False) as http, \
            caplog.at_level(logging.ERROR, logger="triops.alerts"):
        r = http.post("/hooks/alertmanager", json=am(POISON))
        assert r.status_code == 202, r.text
        later = [http.post("/hooks/alertmanager", json=am(f"2026-12-01T11:0{i}:00Z", name=f"A{i}")) for i in range(3)]
    assert [x.status_code for x in later] == [202, 202, 202]
    assert all(x.json()["incidents"] for x in later)
    with rt.store.engine.connect() as conn:
        parked = parked_store.list_parked(conn)
        stored = conn.execute(select(s.alerts.c.id)).scalars().all()
    assert len(parked) == 1 and parked[0]["alert_id"] in stored and parked[0]["service"] == "checkout"
    assert f"ref {parked[0]['ref']}" in caplog.text  # the log line carries the same reference
    out = CliRunner().invoke(_cli(), ["alerts", "stats", "--window", "30d", "--as-of", "2026-12-01T12:00:00Z"],
                             env={"TRIOPS_HOME": str(tmp_path), "TRIOPS_DATABASE_URL": str(rt.store.engine.url.render_as_string(hide_password=False))})
    assert out.exit_code == 0, out.output
    assert "Parked" in out.output and "1 alerts could not be correlated" in out.output


def _cli():  # type: ignore[no-untyped-def]
    from bot.cli import app
    return app
