"""`triops demo`: seed the scenario into the demo's own store and show what the bot answers.

Repeatable: the scenario runs on a fixed clock (DEMO_ANCHOR, overridable), so the answers
are the same every day; on the 1st of a month "this month" is not an empty hour.
Separate: the demo lives in $TRIOPS_HOME/demo/ (its own SQLite store, catalog and Block Kit
files), never in the user's store or database. Seeded once per (seed, anchor): a second
run reuses it and a different one (or `reset`) wipes and re-seeds, so nothing is counted
twice. Each answer is printed for the terminal and its Block Kit JSON written to the demo
home (paste it into Slack's Block Kit Builder).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tools.settings import Settings

if TYPE_CHECKING:  # the rest is imported when the demo runs: `demo_settings` stays cheap
    from rich.console import Console

    from bot.router import Asker, Router
    from bot.runtime import Runtime
    from tools.scenario import Scenario

DEMO_ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)  # the scenario's "now": a constant, not today
DEMO_SEED = 7
DEMO_USER = "demo"
_MARKER = "scenario.json"  # what the demo store holds: {seed, anchor, version}


DEMO_QUESTIONS: list[tuple[str, str]] = [
    ("What can triops do?", "help"),
    ("How does the whole org ship?", "dora 30d"),
    ("How did checkout do this month?", "dora checkout 30d"),
    ("And the payments team over a quarter?", "dora team payments 90d"),
    ("A typo gets a helpful answer", "dora chekout 30d"),
    ("KubePodCrashLooping fired: what do I do?", "runbook KubePodCrashLooping"),
    ("A question in words finds its runbook", "runbook etcd cluster has no leader"),
    ("No runbook is better than a wrong one", "runbook KubeDeploymentRolloutStuck"),
    ("Which ranking model is live, and is it still valid?", "model search-ranker"),
    ("Is its input drifting since the feature-store deployment?", "drift search-ranker"),
    ("What is on fire right now?", "alerts"),
    ("How noisy were the alerts today?", "alerts stats 1d"),
    ("Plain words (the agent; without an LLM, its planner)", "how did checkout ship this month?"),
    ("Plain words, a team and a window", "and the payments team over the last 2 weeks?"),
    ("Plain words at 3 a.m.: incident, probable cause, suspect change, runbook", "why is checkout failing?"),
]


def demo_asker() -> Asker:
    """Who asks the demo's questions (the same conversation key every run)."""
    from bot.router import Asker

    return Asker(user=DEMO_USER, surface="console")


def demo_settings(settings: Settings) -> Settings:
    """The demo's own home, $TRIOPS_HOME/demo: a SQLite store and catalog of its own, never
    the user's database, services file or vector server (they stay for everything else)."""
    return settings.model_copy(
        update={"home": settings.home / "demo", "database_url": None, "services_file": None,
                "chroma_url": None}
    )


def seed(
    settings: Settings, seed_value: int = DEMO_SEED, anchor: datetime = DEMO_ANCHOR, *,
    reset: bool = False,
) -> tuple[Runtime, Scenario]:
    """The demo runtime (on `demo_settings(settings)`, clocked at the scenario's now).

    The store is seeded when it holds nothing, another (seed, anchor) or `reset`: wiped
    first, so a re-seed never adds to what is there; otherwise it is reused as it is.
    """
    from bot.runtime import Runtime
    from tools.scenario import build_scenario, load_scenario, scenario_version

    demo = demo_settings(settings)
    scenario = build_scenario(seed_value, anchor)
    wanted = {"seed": seed_value, "anchor": scenario.now.isoformat(), "version": scenario_version()}
    marker = demo.home / _MARKER
    runtime = Runtime.build(demo, catalog=scenario.catalog, clock=lambda: scenario.now)
    if reset or not marker.exists() or json.loads(marker.read_text()) != wanted:
        marker.unlink(missing_ok=True)  # a seed cut short is redone next time
        runtime.store.drop_all()
        runtime.store.create_all()
        scenario.catalog.dump(demo.services_path)
        load_scenario(runtime.store, scenario)
        marker.write_text(json.dumps(wanted))
    return runtime, scenario


def run(
    settings: Settings, seed_value: int, anchor: datetime, console: Console, reset: bool = False
) -> Path:
    """Seed (or reuse) the demo store, ask DEMO_QUESTIONS, write their Block Kit JSON."""
    from rich.rule import Rule

    from bot.agent.surface import make_router
    from bot.render import to_blocks, to_rich
    from bot.render.charts import images
    from tools import conversations

    runtime, scenario = seed(settings, seed_value, anchor, reset=reset)
    out_dir = runtime.settings.home
    out_dir.mkdir(parents=True, exist_ok=True)
    asker = demo_asker()
    # Follow-ups ("and the payments team…?") read the conversation: start it afresh.
    conversations.forget(runtime.store, asker.conversation_key)
    router = make_router(runtime)
    console.print(
        f"[bold]triops demo[/] · seed {seed_value} · {len(scenario.catalog.services)} services · "
        f"{len(scenario.deployments)} deployments · {len(scenario.incidents)} incidents · "
        f"now = {scenario.now:%Y-%m-%d %H:%M} UTC · store {runtime.store.engine.url.render_as_string(hide_password=True)}"
    )
    for i, (question, command) in enumerate(DEMO_QUESTIONS, start=1):
        console.print(Rule(f"{question}  ›  /triops {command}"))
        reply = router.handle(command, asker)
        console.print(to_rich(reply))
        slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-") or "help"
        (out_dir / f"{i:02d}-{slug}.json").write_text(json.dumps({"blocks": to_blocks(reply)}, indent=2))
        for name, png in images(reply):
            (out_dir / f"{i:02d}-{name}").write_bytes(png)
            console.print(f"chart: {out_dir / f'{i:02d}-{name}'}")
    _incident_post(runtime, router, asker, console, out_dir)
    console.print(Rule())
    console.print(f"Block Kit JSON of every answer: {out_dir}/")
    console.print(f"Ask more of the demo data: TRIOPS_HOME={out_dir} triops dora --service checkout")
    return out_dir


def _incident_post(runtime: Runtime, router: Router, asker: Asker, console: Console, out_dir: Path) -> None:
    """The alert storm's incident: its detail, and the card posted in the incident channel."""
    from rich.rule import Rule

    from bot.render import to_rich
    from bot.render.alerts import incident_card
    from tools.alerts.incidents import open_incidents
    from tools.alerts.summary import first_runbook, runbook_candidates
    from tools.alerts.tool import IncidentDetail
    from tools.runbooks.tool import runbook_lookup

    newest = open_incidents(runtime.store, limit=1)
    if not newest:
        return
    inc = newest[0]
    console.print(Rule(f"The storm after the bad deploy  ›  /triops incident {inc.id}"))
    console.print(to_rich(router.handle(f"incident {inc.id}", asker)))
    detail = runtime.call("incident_get", {"id": inc.id})
    assert isinstance(detail, IncidentDetail)  # incident_get's output model
    runbook = first_runbook(runbook_lookup(runtime.ctx), runbook_candidates(inc, detail.alerts))
    card = [b.to_dict() for b in incident_card(inc, runbook)]
    path = out_dir / "incident-channel-post.json"
    path.write_text(json.dumps({"blocks": card}, indent=2))
    console.print(f"The incident channel's message (one per incident, updated in place): {path}")
