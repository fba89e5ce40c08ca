"""`triops alerts correlate FILE --json` (the stable evaluation interface) and `triops ingest alerts`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tools.scenario import build_scenario
from tools.scenario.topology import catalog

runner = CliRunner()
FIX = Path(__file__).parent / "fixtures" / "alerts"

STORM = [
    {"name": "PostgresDown", "service": "postgres-main", "starts_at": "2026-11-20T10:00:00Z", "fingerprint": "pg"},
    {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z", "fingerprint": "pay"},
    {"name": "HighErrorRate", "service": "payments", "starts_at": "2026-11-20T10:01:00Z", "fingerprint": "pay"},
    {"name": "SearchLatency", "service": "search", "starts_at": "2026-11-20T10:01:30Z", "fingerprint": "s",
     "labels": {"namespace": "discovery"}},
    {"name": "HighErrorRate", "service": "checkout", "starts_at": "2026-11-20T10:02:00Z", "fingerprint": "co"},
]


def write_storm(tmp_path: Path) -> Path:
    path = tmp_path / "storm.jsonl"
    lines = [json.dumps(x) for x in STORM]
    lines.insert(2, "{broken")
    payload = (FIX / "alertmanager.json").read_text().replace("\n", " ").replace("2026-11-20T", "2026-11-21T")
    lines.append(payload)  # a whole Alertmanager payload on one line, a day later
    path.write_text("\n".join(lines) + "\n")
    catalog().dump(tmp_path / "services.yaml")
    return path


def test_correlate_json_prints_incidents_with_member_alert_ids(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    path = write_storm(tmp_path)
    out = runner.invoke(app, ["alerts", "correlate", str(path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["notifications"] == 7 and data["alerts"] == 6
    assert data["errors"][0]["line"] == 3 and "invalid JSON" in data["errors"][0]["error"]
    by_services = {tuple(i["services"]): i for i in data["incidents"]}
    cascade = by_services[("postgres-main", "payments", "checkout")]
    assert len(cascade["alert_ids"]) == 3 and cascade["probable_cause"] == "postgres-main"
    assert ("search",) in by_services
    ids = [a for i in data["incidents"] for a in i["alert_ids"]]
    assert len(ids) == len(set(ids)) == 6  # every alert in exactly one incident
    again = json.loads(runner.invoke(app, ["alerts", "correlate", str(path), "--json"]).stdout)
    assert again == data  # deterministic


def test_correlate_missing_file_exits_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = runner.invoke(app, ["alerts", "correlate", str(tmp_path / "nope.jsonl")])
    assert out.exit_code == 2 and "no such file" in out.output


def test_ingest_alerts_then_list_and_show(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    path = write_storm(tmp_path)
    out = runner.invoke(app, ["ingest", "alerts", str(path), "--json"])
    assert out.exit_code == 3, out.output  # one bad line: the good ones load, the exit says so
    res = json.loads(out.stdout)
    assert res["loaded"] == 7 and len(res["errors"]) == 1
    listed = json.loads(runner.invoke(app, ["alerts", "list", "payments", "--state", "all", "--json"]).stdout)
    assert len(listed["incidents"]) == 2  # the cascade, and the next day's Alertmanager payload
    (inc,) = [i for i in listed["incidents"] if "postgres-main" in i["services"]]
    shown = json.loads(runner.invoke(app, ["alerts", "show", inc["id"], "--json"]).stdout)
    assert sorted(a["name"] for a in shown["alerts"]) == ["HighErrorRate", "HighErrorRate", "PostgresDown"]
    stats = json.loads(runner.invoke(app, ["alerts", "stats", "--window", "30d", "--json"]).stdout)
    assert stats["notifications"] >= 1
    bad = runner.invoke(app, ["alerts", "show", "inc-nope"])
    assert bad.exit_code == 2 and "No alert incident" in bad.output


def test_demo_scenario_storm_is_one_incident_caused_by_the_bad_deploy() -> None:
    from tools.alerts.correlate import CorrelationEngine
    from tools.alerts.summary import summarise
    from tools.store import Store
    from tools.store.delivery import upsert_deployments

    sc = build_scenario(7)
    bad = sc.bad_deployment
    engine = CorrelationEngine(sc.catalog)
    engine.run(sc.alerts)
    storm = [i for i in engine.incidents.values() if bad.service in i.services and len(i.services) > 1]
    assert len(storm) == 1
    (inc,) = storm
    assert list(inc.services) == ["payments", "checkout", "web-frontend"]
    flapping = [i for i in engine.incidents.values() if i.flapping]
    assert len(flapping) == 1 and len(flapping[0].alert_ids) == 6  # six flaps, one incident
    store = Store.open("sqlite://")
    with store.engine.begin() as conn:
        upsert_deployments(conn, sc.deployments)
    from tools.alerts.cause import change_window
    from tools.alerts.changes import deployment_changes

    start, end = change_window(inc.alerts[inc.first_alert_id].starts_at)
    with store.engine.connect() as conn:
        changes = deployment_changes(conn, ["payments", "checkout", "web-frontend"], start, end)
    summary = summarise(inc, sc.catalog, changes)
    assert summary.causes[0].service == "payments"
    assert summary.suspect_change is not None and summary.suspect_change.id == bad.id


def test_correlate_prints_no_cause_when_the_incident_abstained(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """api and worker both call db, which does not alert; they alert 30 s apart in two
    incidents (different alerts, nothing joins them). Neither can be named as the cause:
    each incident says "no clear cause", and the output names no probable cause for it
    (it printed the first ranked candidate before)."""
    from tools.catalog import Service, ServiceCatalog

    monkeypatch.setenv("TRIOPS_HOME", str(tmp_path))
    ServiceCatalog(services=[
        Service(name="db", team="t"), Service(name="api", team="t", depends_on=["db"]),
        Service(name="worker", team="t", depends_on=["db"]), Service(name="cron", team="t", depends_on=["db"]),
    ]).dump(tmp_path / "services.yaml")
    path = tmp_path / "storm.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"name": "HighErrorRate", "service": "api", "starts_at": "2026-11-20T10:00:00Z", "fingerprint": "api"},
        {"name": "QueueBacklog", "service": "worker", "starts_at": "2026-11-20T10:00:30Z", "fingerprint": "wk",
         "summary": "jobs are piling up"},
    ]) + "\n")
    out = runner.invoke(app, ["alerts", "correlate", str(path), "--json"])
    assert out.exit_code == 0, out.output
    incidents = json.loads(out.stdout)["incidents"]
    assert [i["services"] for i in incidents] == [["api"], ["worker"]]
    assert all(i["no_clear_cause"] and i["probable_cause"] is None for i in incidents)
    text = runner.invoke(app, ["alerts", "correlate", str(path)]).stdout
    assert text.count("cause: no clear cause") == 2
