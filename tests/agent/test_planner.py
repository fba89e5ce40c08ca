"""The no-LLM planner: routing on held-out questions, slots, data-driven tool filling."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import BaseModel, Field
from sklearn.model_selection import StratifiedKFold

from bot.agent import eval_world
from bot.agent.grounding import check
from bot.agent.planner import IntentFile, Planner, routing_accuracy, template_text
from bot.agent.service import answer_text, evidence_of
from bot.agent.slots import Slots, Vocabulary, extract_slots, fill_args, parse_time_phrase
from bot.capabilities import capabilities
from tools.contract import ToolContext, ToolRegistry, tool

EVAL = Path(__file__).resolve().parents[2] / "bench" / "agent_eval.yaml"


@pytest.fixture
def planner(ctx: ToolContext, registry: ToolRegistry) -> Planner:
    return Planner(registry, ctx)


def test_routing_on_held_out_questions(planner: Planner) -> None:
    cases = yaml.safe_load(EVAL.read_text())["cases"]
    spec = IntentFile.of(capabilities())
    training = {template_text(e) for i in spec.intents for e in i.examples}
    assert not any(template_text(c["question"]) in training for c in cases)  # truly held out
    acc, misses = routing_accuracy(planner, [(c["question"], c["intent"]) for c in cases])
    assert len(cases) >= 50
    assert acc >= 0.90, misses


def test_routing_cross_validated_on_the_examples(ctx: ToolContext, registry: ToolRegistry) -> None:
    """5-fold CV of the whole router (model + keywords) on every intent's examples: a regression guard."""
    spec = IntentFile.of(capabilities())
    pairs = [(e, i.name) for i in spec.intents for e in i.examples]
    labels = np.array([name for _, name in pairs])
    fill = {"{service}": "checkout", "{team}": "team-shop", "{model}": "ranking", "{window}": "over the last 7 days",
            "{incident}": "inc-3f2a9c01b2d4", "{alert}": "KubePodCrashLooping"}
    vocab = Vocabulary(services=["checkout"], teams=["team-shop"], models=["ranking"])
    correct = 0
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(pairs)), labels):
        keep = {int(k) for k in train}
        fold = spec.model_copy(deep=True)
        for intent in fold.intents:
            intent.examples = [e for j, (e, n) in enumerate(pairs) if n == intent.name and j in keep]
        p = Planner(registry, ctx, intents=fold, vocabulary=vocab)
        for j in test:
            q, want = pairs[j]
            for ph, v in fill.items():
                q = q.replace(ph, v)
            correct += p.route(q).intent == want
    assert correct / len(pairs) >= 0.80  # measured 0.84 (the held-out set above: 1.00)


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("how did checkout ship this month?", "23d"),
        ("deploys in the last 2 weeks", "2w"),
        ("past 24 hours", "24h"),
        ("dora 30d", "30d"),
        ("over the last three days", "3d"),
        ("this week", "12h"),  # Monday noon: half a day into the week
        ("this quarter", "54d"),  # since 1 October: 53.5 days, rounded up
        ("yesterday", "2d"),
        ("last month", "1m"),
        ("last quarter", "90d"),
        ("in the past fortnight", "14d"),
        ("how is checkout doing?", None),
    ],
)
def test_time_windows(text: str, window: str | None) -> None:
    assert parse_time_phrase(text, NOW)[0] == window


def test_slots_services_teams_models() -> None:
    vocab = Vocabulary(services=["checkout", "ranking-api", "payments"], teams=["team-search"], models=["ranking"])
    s = extract_slots("is the ranking model ok and how is ranking api doing for team search?", vocab, NOW)
    assert s.model == "ranking" and s.service == "ranking-api" and s.team == "team-search"
    s = extract_slots("checkout and payments over 7d", vocab, NOW)
    assert s.services == ["checkout", "payments"] and s.scope == "checkout" and s.window == "7d"
    both = Vocabulary(services=["payments"], teams=["team-payments"])
    assert extract_slots("how did payments ship?", both, NOW).scope == "payments"
    assert extract_slots("and the payments team over 2 weeks?", both, NOW).scope == "team-payments"
    assert extract_slots("team payments this month", both, NOW).scope == "team-payments"
    shared = Vocabulary(services=["ranking"], models=["ranking"])
    assert extract_slots("is the ranking model still ok?", shared, NOW).model == "ranking"
    assert extract_slots("is the ranking model still ok?", shared, NOW).service is None
    assert extract_slots("why is ranking slow?", shared, NOW).service == "ranking"
    s = extract_slots("why is INC-42 still open?", vocab, NOW)
    assert s.identifier == "INC-42"


def test_vocabulary_from_catalog_and_store(planner: Planner) -> None:
    vocab = planner.vocabulary()
    assert {"checkout", "payments", "search", "ranking-api"} <= set(vocab.services)
    assert "team-shop" in vocab.teams
    assert vocab.models == ["fraud-scorer", "search-ranker"]
    assert vocab.model_services == {"ranking-api": "search-ranker", "payments": "fraud-scorer"}
    assert {"KubePodCrashLooping", "HighErrorRate"} <= set(vocab.alerts)


# --- data-driven: a tool that is not on main yet -----------------------------------------------
class RunbookQuery(BaseModel):
    query: str = Field(description="An alert name or a question")
    k: int = 3


class RunbookHit(BaseModel):
    title: str
    score: float


class RunbookResults(BaseModel):
    hits: list[RunbookHit]


@tool("runbook_search", "Find the runbook for an alert name or question.")
def fake_runbook_search(ctx: ToolContext, args: RunbookQuery) -> RunbookResults:
    return RunbookResults(hits=[RunbookHit(title=f"Runbook for: {args.query}", score=0.87)])


class ModelQuery(BaseModel):
    model: str | None = None
    since_hours: int | None = None


class ModelStatus(BaseModel):
    model: str | None
    since_hours: int | None


@tool("model_status", "Model versions and validity.")
def fake_model_status(ctx: ToolContext, args: ModelQuery) -> ModelStatus:
    return ModelStatus(model=args.model, since_hours=args.since_hours)


def test_new_tools_are_used_without_planner_changes(ctx: ToolContext) -> None:
    # The real runbook and model tools stand aside: these two play tools the planner never saw.
    others = [t for t in list(capabilities().registry()) if t.name not in {"runbook_search", "model_status"}]
    registry = ToolRegistry([*others, fake_runbook_search, fake_model_status])
    p = Planner(registry, ctx)
    ans = p.answer("how do I fix a full disk on a node?")
    assert ans.intent == "runbook" and [(c.tool, c.args) for c in ans.calls] == [
        ("runbook_search", {"query": "how do I fix a full disk on a node?"})
    ]
    ans = p.answer("is the ranking model ok over the last 2 days?")
    assert ans.intent == "model_status"
    assert ans.calls[0].tool == "model_status" and ans.calls[0].args == {"model": "ranking", "since_hours": 48}


def test_a_step_naming_an_unregistered_tool_stops_the_start(ctx: ToolContext) -> None:
    without_drift = ToolRegistry([t for t in list(capabilities().registry()) if t.name != "drift_report"])
    with pytest.raises(ValueError, match=r"intent 'drift' of capability drift_report: step tool 'drift_report' is not registered"):
        Planner(without_drift, ctx)


def test_a_step_naming_a_mutating_tool_stops_the_start(ctx: ToolContext, registry: ToolRegistry) -> None:
    bad = IntentFile.parse({"restart": {"title": "Restart", "tools": [{"tool": "restart_workload"}],
                                        "examples": ["restart it", "bounce the pods", "restart checkout"]}}, "ops")
    with pytest.raises(ValueError, match="restart_workload changes a system"):
        Planner(registry, ctx, intents=bad)


def test_an_intent_declared_twice_stops_the_start() -> None:
    from bot.capabilities import Capabilities, Capability

    twin = Capability(tool=fake_runbook_search, summary="x", intents={"dora": {"title": "Other", "examples": ["a", "b", "c"]}})
    with pytest.raises(ValueError, match="intent 'dora' declared twice"):
        IntentFile.of(Capabilities([*[c for c in capabilities() if c.name != "runbook_search"], twin]))


def test_dora_answer_is_computed_and_grounded(planner: Planner) -> None:
    ans = planner.answer("how did checkout ship in the last 30 days?")
    assert ans.path == "planner" and ans.intent == "dora"
    out = ans.calls[0].output
    assert ans.calls[0].args == {"service": "checkout", "window": "30d"}
    assert out.current.deployment_frequency.deployments == 10
    assert out.current.change_fail_rate.rate_percent == 20.0
    assert out.current.lead_time.median_hours == 5.0
    assert out.previous.deployment_frequency.deployments == 5
    assert check(answer_text(ans), evidence_of(ans.question, ans.calls)).grounded


def test_team_scope_and_unknown_name(planner: Planner) -> None:
    ans = planner.answer("dora for team-payments over 30d")
    assert ans.calls[0].args == {"team": "team-payments", "window": "30d"}
    assert ans.calls[0].output.current.deployment_frequency.deployments == 4
    ans = planner.answer("dora for the org")
    assert "service" not in ans.calls[0].args and "team" not in ans.calls[0].args  # org-wide


def test_help_and_smalltalk_call_no_tool(planner: Planner) -> None:
    for q, intent in (("what can you do?", "help"), ("hello!", "smalltalk"), ("zxqv blorp", "help")):
        ans = planner.answer(q)
        assert ans.intent == intent and ans.calls == []


def test_fill_args_explicit_mapping_and_types() -> None:
    slots = Slots(text="q", service="checkout", window="2d")
    assert fill_args(ModelQuery, slots, None, NOW) == {"since_hours": 48}
    assert fill_args(ModelQuery, slots, {"model": "{service}"}, NOW) == {"model": "checkout", "since_hours": 48}
    assert fill_args(RunbookQuery, slots, None, NOW) == {"query": "q"}
    assert eval_world.NOW == NOW


def test_follow_ups_keep_the_intent_and_window(ctx: ToolContext, registry: ToolRegistry) -> None:
    from bot.agent.service import Assistant

    a = Assistant(registry, ctx, ctx.settings)
    assert not a.llm_enabled
    first = a.ask("how did checkout ship in the last 2 weeks?", key="t:f")
    assert first.calls[0].args == {"service": "checkout", "window": "2w"}
    second = a.ask("and payments?", key="t:f")
    assert second.intent == "dora" and second.calls[0].args == {"service": "payments", "window": "2w"}
    third = a.ask("what about over 30d?", key="t:f")
    assert third.calls[0].args == {"service": "payments", "window": "30d"}
    other = a.ask("hello", key="t:f")  # not a follow-up: no names, no window
    assert other.intent == "smalltalk" and other.calls == []
    fresh = a.ask("and payments?", key="t:other-thread")  # no history: nothing to follow
    assert "window" not in fresh.calls[0].args if fresh.calls else True  # the tool default, not 2w


# --- the real tools in the eval world: routing and argument filling ------------------------------
INC = "inc-dd6f671c66b2"  # the eval world's open incident: search-d0 broke search, checkout, ranking-api


def _calls(ans) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    return [(c.tool, c.args) for c in ans.calls]


def test_triage_chains_list_incident_and_runbook(planner: Planner) -> None:
    ans = planner.answer("why is checkout failing?")
    assert ans.intent == "triage" and all(c.ok for c in ans.calls)
    assert _calls(ans) == [
        ("alerts_list", {"service": "checkout", "state": "open"}),
        ("incident_get", {"id": INC}),
        ("runbook_search", {"query": "KubePodCrashLooping Pod search/search-7f9c is crash looping."}),
    ]
    assert "Probable cause: *search*" in ans.text and "Suspect change: deployment `search-d0` of search" in ans.text
    assert "Runbook: KubePodCrashLooping https://runbooks.prometheus-operator.dev" in ans.text
    assert check(answer_text(ans), evidence_of(ans.question, ans.calls)).grounded
    # payments has no open incident: its latest (resolved) one, and that alert's runbook search
    ans = planner.answer("why is payments slow?")
    assert [t for t, _ in _calls(ans)] == ["alerts_list", "alerts_list", "incident_get", "runbook_search"]
    assert ans.calls[1].args == {"service": "payments", "state": "all", "limit": 5}
    assert ans.calls[3].args["query"].startswith("NodeFilesystemSpaceFillingUp Filesystem on /dev/sda1")
    # an incident named: straight to it
    ans = planner.answer(f"what caused {INC.upper()} ?")
    assert ans.intent == "triage" and [t for t, _ in _calls(ans)] == ["incident_get", "runbook_search"]
    assert ans.calls[0].args == {"id": INC}


def test_incident_alerts_and_noise_get_their_tools(planner: Planner) -> None:
    ans = planner.answer(f"show incident {INC}")
    assert ans.intent == "incident" and _calls(ans)[0] == ("incident_get", {"id": INC})
    assert ans.calls[1].tool == "runbook_search" and ans.calls[1].output.found
    ans = planner.answer("show incident")  # no id: never the incident intent, never a failing call
    assert ans.intent != "incident" and all(c.error is None for c in ans.calls)
    ans = planner.answer("what is on fire right now?")
    assert _calls(ans) == [("alerts_list", {"state": "open"})]
    assert [i.id for i in ans.calls[0].output.incidents] == [INC]
    ans = planner.answer("list the incidents from last week")
    assert _calls(ans) == [("alerts_list", {"state": "all"})] and len(ans.calls[0].output.incidents) == 2
    ans = planner.answer("how noisy were the alerts over 7d?")
    assert ans.intent == "alert_noise" and _calls(ans) == [("alert_stats", {"window": "7d"})]
    out = ans.calls[0].output
    assert (out.notifications, out.alerts, out.incidents, out.open_incidents) == (6, 5, 2, 1)


def test_runbook_query_is_the_alert_name_when_one_is_named(planner: Planner) -> None:
    assert _calls(planner.answer("what do I do about KubePodCrashLooping?")) == [
        ("runbook_search", {"query": "KubePodCrashLooping"})]
    assert _calls(planner.answer("how to handle disk pressure on a node")) == [
        ("runbook_search", {"query": "how to handle disk pressure on a node"})]


def test_models_by_name_by_word_by_service_or_all(planner: Planner, store) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from tools.store.models import drift_reports

    assert _calls(planner.answer("is the search-ranker model still ok?")) == [("model_status", {"name": "search-ranker"})]
    assert _calls(planner.answer("is the fraud model healthy?")) == [("model_status", {"name": "fraud-scorer"})]
    assert _calls(planner.answer("is the ranking-api model healthy?")) == [("model_status", {"name": "search-ranker"})]
    ans = planner.answer("is the churn model valid?")  # unknown: the tool's error names the known ones
    assert _calls(ans) == [("model_status", {"name": "churn"})]
    assert ans.calls[0].choices == ["fraud-scorer", "search-ranker"]
    ans = planner.answer("are any of our models stale?")  # none named: each known model
    assert [a["name"] for _, a in _calls(ans)] == ["fraud-scorer", "search-ranker"]
    assert ans.calls[0].output.recommendation == "retrain"
    with store.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(drift_reports)).scalar_one()
    ans = planner.answer("is search-ranker's input drifting?")
    assert _calls(ans) == [("drift_report", {"model": "search-ranker", "record": False})]
    assert ans.calls[0].output.report.dataset_drift
    with store.engine.connect() as conn:  # asking is not checking: nothing recorded
        assert conn.execute(select(func.count()).select_from(drift_reports)).scalar_one() == before


def test_step_references_alternatives_and_literals() -> None:
    from bot.agent.slots import resolve

    values = {"text": "why?", "service": "checkout", "alert_name": None}
    outputs = {"recent": {"incidents": [{"id": "inc-1", "first_alert": {"name": "A", "message": "m"}}]},
               "runbook": {"found": False}}
    assert resolve("{recent.incidents.0.id}", values, outputs) == "inc-1"
    assert resolve("{recent.incidents.1.id|service}", values, outputs) == "checkout"
    assert resolve("{nothing.here|alert_name|'open'}", values, outputs) == "open"
    assert resolve("{recent.incidents.0.first_alert.name} {recent.incidents.0.first_alert.message}", values, outputs) == "A m"
    assert resolve("{missing.x} {alert_name}", values, outputs) is None  # nothing resolved: the field is left out
    assert resolve("{runbook.found}", values, outputs) is None  # "not found" is no value
    assert resolve("all", values, outputs) == "all"


def test_follow_ups_without_words_of_their_own_keep_the_threads_intent(ctx: ToolContext, registry: ToolRegistry) -> None:
    from bot.agent.service import Assistant

    a = Assistant(registry, ctx, ctx.settings)
    assert a.ask("why is checkout failing?", key="t:tri").intent == "triage"
    then = a.ask("and payments?", key="t:tri")  # not DORA: the thread is triaging
    assert then.intent == "triage" and then.calls[0].args == {"service": "payments", "state": "open"}
    assert a.ask("and how did payments ship?", key="t:tri").intent == "dora"  # its own words win
    assert a.ask("how noisy were alerts over 7d?", key="t:noise").intent == "alert_noise"
    again = a.ask("what about over 1d?", key="t:noise")
    assert again.intent == "alert_noise" and again.calls[0].args == {"window": "1d"}
