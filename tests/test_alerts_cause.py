"""Probable cause: ranked candidates with their evidence as data, what would refute each,
a silent shared dependency, and abstention when nothing singles out a cause."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.alerts_helpers import T0, mk
from tools.alerts.cause import rank_causes, rank_incident
from tools.alerts.correlate import CorrelationConfig, CorrelationEngine
from tools.alerts.models import ChangeEvent
from tools.scenario.topology import catalog


def _incident(alerts, config: CorrelationConfig | None = None):  # type: ignore[no-untyped-def]
    e = CorrelationEngine(catalog(), config)
    ids = {e.process(a).incident_id for a in alerts}
    assert len(ids) == 1
    return e.incidents[ids.pop()]


def test_each_cause_carries_its_evidence_as_data_and_what_would_refute_it() -> None:
    first = mk("PostgresDown", "postgres-main", 0)
    inc = _incident([first, mk("PaymentsErrors", "payments", 60), mk("CheckoutErrors", "checkout", 150)])
    deploy = ChangeEvent(kind="deployment", id="pg-17", service="postgres-main",
                         at=datetime.fromtimestamp(T0 - 900, UTC), status="success")
    ranked = rank_incident(inc, catalog(), [deploy])
    assert not ranked.abstained
    top = ranked.causes[0]
    assert top.service == "postgres-main" and top.change_lead_s == 900.0
    kinds = {f.kind: f for f in top.facts}
    assert kinds["first_alert"].alert_id == first.id
    assert kinds["most_upstream"].services == ["payments", "checkout"]
    paths = [f.path for f in top.facts if f.kind == "dependency_path"]
    assert ["postgres-main", "payments", "checkout"] in paths
    assert kinds["change"].change_id == "pg-17" and kinds["change"].lead_s == 900.0
    assert top.score == round(sum(f.weight for f in top.facts), 2)
    assert top.evidence == [f.text for f in top.facts if f.weight or f.kind != "dependency_path"][: len(top.evidence)]
    assert any("rolling back deployment pg-17" in r for r in top.refuted_if)
    assert any("dependencies are failing" in r for r in top.refuted_if)


def test_two_independent_roots_with_nothing_shared_is_no_clear_cause() -> None:
    """Two services with no dependency between them and none in common alert seconds apart:
    alerting 5 s earlier does not make one the cause; the post says "no clear cause"."""
    from tools.catalog import Service, ServiceCatalog

    cat = ServiceCatalog(services=[Service(name="a", team="t"), Service(name="b", team="t"),
                                   Service(name="web", team="t", depends_on=["a", "b"])])
    e = CorrelationEngine(cat, CorrelationConfig(w_template=2.5))
    for x in (mk("Errors", "a", 0, message="5xx above 3%"), mk("Errors", "b", 5, message="5xx above 4%")):
        iid = e.process(x).incident_id
    ranked = rank_incident(e.incidents[iid], cat)
    assert set(e.incidents[iid].services) == {"a", "b"}
    assert ranked.abstained and "no clear cause" in ranked.reason and {c.service for c in ranked.causes} == {"a", "b"}
    # a change on one of them singles it out
    change = ChangeEvent(kind="deployment", id="d1", service="b", at=datetime.fromtimestamp(T0 - 300, UTC))
    clear = rank_incident(e.incidents[iid], cat, [change])
    assert not clear.abstained and clear.causes[0].service == "b"


def test_a_silent_dependency_shared_by_the_alerting_services_is_named() -> None:
    """payments and inventory alert, postgres-main (which both depend on) does not."""
    causes = rank_causes({"payments": T0, "inventory": T0 + 10}, catalog())
    top = causes[0]
    assert top.service == "postgres-main" and not top.alerting
    (shared,) = [f for f in top.facts if f.kind == "shared_dependency"]
    assert shared.services == ["payments", "inventory"]
    assert any("is healthy" in r for r in top.refuted_if)


def test_a_symptom_alerting_before_its_dependency_gets_credit_for_it() -> None:
    causes = rank_causes({"payments": T0, "postgres-main": T0 + 100}, catalog())
    pay = next(c for c in causes if c.service == "payments")
    assert any(f.kind == "precedes" for f in pay.facts)
    pg = next(c for c in causes if c.service == "postgres-main")
    (up,) = [f for f in pg.facts if f.kind == "most_upstream"]
    assert "0 of 1 alerted after it" in up.text


def test_the_card_says_no_clear_cause_instead_of_naming_one() -> None:
    import json

    from bot.render.alerts import incident_card, incident_text
    from tools.alerts.summary import summarise
    from tools.catalog import Service, ServiceCatalog

    cat = ServiceCatalog(services=[Service(name="a", team="t"), Service(name="b", team="t")])
    e = CorrelationEngine(cat, CorrelationConfig(w_template=2.5))
    for x in (mk("Errors", "a", 0, message="5xx above 3%"), mk("Errors", "b", 5, message="5xx above 4%")):
        iid = e.process(x).incident_id
    s = summarise(e.incidents[iid], cat)
    assert s.no_clear_cause and "independently" in s.cause_note
    body = json.dumps([b.to_dict() for b in incident_card(s)])
    assert "no clear cause" in body and "candidates, none convincing" in body
    assert "no clear cause" in incident_text(s)


def _db_and_callers():  # type: ignore[no-untyped-def]
    from tools.catalog import Service, ServiceCatalog

    return ServiceCatalog(services=[
        Service(name="db", team="t"), Service(name="cache", team="t"),
        *(Service(name=n, team="t", depends_on=["db"]) for n in ("api", "worker", "cron")),
        Service(name="web", team="t", depends_on=["api", "cache"]), Service(name="admin", team="t", depends_on=["cache"]),
        Service(name="report", team="t", depends_on=["cache"]),
    ])


def test_siblings_alerting_in_other_incidents_name_their_silent_dependency() -> None:
    """db does not alert; api, worker and cron (all of db's callers) alert within a minute,
    each in an incident of its own. Two siblings elsewhere: db is named, inferred; one
    sibling elsewhere: "no clear cause"; none: api is named."""
    cat = _db_and_callers()
    e = CorrelationEngine(cat)
    api = e.process(mk("HighErrorRate", "api", 0)).incident_id
    e.process(mk("QueueBacklog", "worker", 30, message="jobs piling up"))

    def ranked():  # type: ignore[no-untyped-def]
        return rank_incident(e.incidents[api], cat, elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))

    one = ranked()
    assert one.abstained and "db" in one.reason and "worker" in one.reason
    e.process(mk("CronFailed", "cron", 50, message="cron job failed"))
    two = ranked()
    assert not two.abstained and two.causes[0].service == "db" and not two.causes[0].alerting
    (shared,) = [f for f in two.causes[0].facts if f.kind == "shared_dependency"]
    assert set(shared.services) == {"api", "worker", "cron"}
    alone = rank_incident(e.incidents[api], cat)  # no view of the other incidents: nothing to infer from
    assert not alone.abstained and alone.causes[0].service == "api"


def test_a_lone_alert_upstream_loses_to_the_service_whose_callers_fail() -> None:
    """cache fires one alert first; api fires three and its caller web follows. Of cache's
    three callers only web alerts; api's only caller alerts: api leads."""
    cat = _db_and_callers()
    causes = rank_causes({"cache": T0, "api": T0 + 40, "web": T0 + 90}, cat, alert_counts={"cache": 1, "api": 3, "web": 1})
    assert causes[0].service == "api"
    fan = {c.service: f for c in causes for f in c.facts if f.kind == "fan_out"}
    assert fan["cache"].weight < 0 and "1 of the 3 services" in fan["cache"].text
    own = next(f for f in causes[0].facts if f.kind == "own_alerts")
    assert own.weight > 0 and "3 distinct alerts" in own.text


def test_a_lone_alert_whose_direct_callers_are_all_healthy_loses_to_the_service_that_fails() -> None:
    """postgres-main fires one alert first; checkout, two hops above it, fires two. None of
    postgres-main's direct callers (payments, inventory, auth, ...) alert: for postgres-main
    to explain checkout its cascade would cross a healthy hop, so checkout leads."""
    causes = rank_causes({"postgres-main": T0, "checkout": T0 + 60}, catalog(),
                         alert_counts={"postgres-main": 1, "checkout": 2})
    assert causes[0].service == "checkout"
    pg = next(c for c in causes if c.service == "postgres-main")
    up = next(f for f in pg.facts if f.kind == "most_upstream")
    assert "none of the services calling it directly alert" in up.text
    assert any("between postgres-main and checkout are healthy" in r for r in pg.refuted_if)
    # one direct caller alerting too: the cascade is whole and postgres-main explains both
    whole = rank_causes({"postgres-main": T0, "payments": T0 + 50, "checkout": T0 + 60}, catalog(),
                        alert_counts={"postgres-main": 1, "payments": 1, "checkout": 2})
    assert whole[0].service == "postgres-main"


def _db_api_cache():  # type: ignore[no-untyped-def]
    from tools.catalog import Service, ServiceCatalog

    return ServiceCatalog(services=[
        Service(name="db", team="t"), Service(name="cache", team="t"),
        Service(name="api", team="t", depends_on=["db", "cache"]),
        *(Service(name=n, team="t", depends_on=["db"]) for n in ("worker", "cron", "etl")),
    ])


def test_a_silent_dependency_is_found_under_a_top_that_is_not_itself_the_most_upstream() -> None:
    """api alerts first; cache (a dependency of api) fires one alert 100 s later and joins
    api's incident, so api is no longer "most upstream"; worker, cron and etl (db's other
    callers) alert in incidents of their own within a minute of api. All of db's callers
    alert and db does not: db is named (inferred), not api."""
    cat = _db_api_cache()
    e = CorrelationEngine(cat)
    api = e.process(mk("HighErrorRate", "api", 0)).incident_id
    e.process(mk("QueueBacklog", "worker", 30, message="jobs piling up"))
    e.process(mk("CronFailed", "cron", 50, message="cron job failed"))
    assert e.process(mk("CacheEvictions", "cache", 100, message="evictions high")).incident_id == api
    ranked = rank_incident(e.incidents[api], cat, elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))
    assert not ranked.abstained and ranked.causes[0].service == "db" and not ranked.causes[0].alerting
    (shared,) = [f for f in ranked.causes[0].facts if f.kind == "shared_dependency"]
    assert set(shared.services) == {"api", "worker", "cron"} and "in another incident" in shared.text


def test_siblings_alerting_in_the_same_incident_count_toward_the_silent_dependency() -> None:
    """api (three distinct alerts) and worker alert together in one incident, cron in
    another; etl, db's fourth caller, stays quiet. Three of db's four callers alert within a
    minute: the pattern of a silent db, whichever incident each sibling landed in."""
    cat = _db_api_cache()
    e = CorrelationEngine(cat)
    api = e.process(mk("HighErrorRate", "api", 0, message="errors high")).incident_id
    e.process(mk("Latency", "api", 5, message="latency high"))
    e.process(mk("Saturation", "api", 8, message="saturation high"))
    assert e.process(mk("HighErrorRate", "worker", 20, message="errors high")).incident_id == api
    assert e.process(mk("CronFailed", "cron", 50, message="cron job failed")).incident_id != api
    ranked = rank_incident(e.incidents[api], cat, elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))
    assert ranked.causes[0].service == "db" and not ranked.causes[0].alerting
    (shared,) = [f for f in ranked.causes[0].facts if f.kind == "shared_dependency" and "cron" in f.services]
    assert set(shared.services) == {"api", "worker", "cron"}


def test_a_change_on_the_top_service_is_weighed_against_a_silent_dependency_not_a_veto() -> None:
    """api was deployed 100 min before it alerted (a weak suspect); all three of db's other
    callers alert at the same time in other incidents. The deployment counts in api's score
    but does not stop the comparison: db, explaining four services, is named. A failed
    deployment minutes before api breaks three of its signals keeps api on top."""
    from tools.catalog import Service, ServiceCatalog

    cat = ServiceCatalog(services=[
        Service(name="db", team="t"),
        *(Service(name=n, team="t", depends_on=["db"]) for n in ("api", "worker", "cron", "etl")),
    ])
    e = CorrelationEngine(cat)
    api = e.process(mk("HighErrorRate", "api", 0)).incident_id
    for i, (svc, t) in enumerate((("worker", 20), ("cron", 40), ("etl", 60))):
        e.process(mk(f"Broken{i}", svc, t, message=f"{svc} broken {i}"))

    def ranked(minutes_before: float):  # type: ignore[no-untyped-def]
        dep = ChangeEvent(kind="deployment", id="d-1", service="api", status="success",
                          at=datetime.fromtimestamp(T0 - minutes_before * 60, UTC))
        return rank_incident(e.incidents[api], cat, [dep], elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))

    weak = ranked(100)
    assert weak.causes[0].service == "db" and not weak.abstained
    api_cause = next(c for c in weak.causes if c.service == "api")
    assert api_cause.change is not None and any(f.kind == "change" for f in api_cause.facts)
    # api breaking three of its own signals right after a failed deployment: its evidence leads
    e.process(mk("Latency", "api", 5, message="latency high"))
    e.process(mk("Saturation", "api", 8, message="saturation high"))
    strong = rank_incident(e.incidents[api], cat, [ChangeEvent(kind="deployment", id="d-2", service="api", status="failed",
                                                               at=datetime.fromtimestamp(T0 - 120, UTC))],
                           elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))
    assert not strong.abstained and strong.causes[0].service == "api"
    assert any(c.service == "db" and not c.alerting for c in strong.causes[1:])


def test_a_sibling_that_the_top_service_explains_is_no_evidence_for_a_silent_dependency() -> None:
    """web calls both api and db; api alerts, then web 30 s later (api's cascade). web is a
    caller of the silent db too, but api explains it: api is named, with no "no clear
    cause" over db (this cost top-1 on loud storms while siblings were counted blindly)."""
    from tools.catalog import Service, ServiceCatalog

    cat = ServiceCatalog(services=[
        Service(name="db", team="t"), Service(name="api", team="t", depends_on=["db"]),
        Service(name="web", team="t", depends_on=["api", "db"]),
    ])
    e = CorrelationEngine(cat)
    api = e.process(mk("HighErrorRate", "api", 0)).incident_id
    assert e.process(mk("HighErrorRate", "web", 30)).incident_id == api
    ranked = rank_incident(e.incidents[api], cat, elsewhere=lambda s, t: e.alerting_near(s, t, 120, api))
    assert not ranked.abstained and ranked.causes[0].service == "api"
    assert not any(f.kind == "shared_dependency" for c in ranked.causes for f in c.facts)
