"""`triops demo`: seed the scenario into the embedded store and show what the bot answers.

Each domain adds its questions to DEMO_QUESTIONS; each answer is printed for the terminal
and its Block Kit JSON written to $TRIOPS_HOME/demo/ (paste it into Slack's Block Kit Builder).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.rule import Rule

from bot.render import to_blocks, to_rich
from bot.render.charts import images
from bot.router import Asker, Router
from bot.runtime import Runtime
from tools.scenario import Scenario, build_scenario, load_scenario
from tools.settings import Settings

DEMO_QUESTIONS: list[tuple[str, str]] = [
    ("What can triops do?", "help"),
    ("How does the whole org ship?", "dora 30d"),
    ("How did checkout do this month?", "dora checkout 30d"),
    ("And the payments team over a quarter?", "dora team-payments 90d"),
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


def anchor_now() -> datetime:
    """Today's UTC midnight: the scenario is the same all day, and fresh every day."""
    now = datetime.now(tz=UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def seed(settings: Settings, seed_value: int, now: datetime) -> tuple[Runtime, Scenario]:
    scenario = build_scenario(seed_value, now)
    scenario.catalog.dump(settings.services_path)
    runtime = Runtime.build(settings, catalog=scenario.catalog, clock=lambda: scenario.now)
    load_scenario(runtime.store, scenario)
    return runtime, scenario


def run(settings: Settings, seed_value: int, now: datetime, console: Console) -> Path:
    runtime, scenario = seed(settings, seed_value, now)
    out_dir = settings.home / "demo"
    out_dir.mkdir(parents=True, exist_ok=True)
    from bot.agent.surface import make_router

    router = make_router(runtime)
    console.print(
        f"[bold]triops demo[/] · seed {seed_value} · {len(scenario.catalog.services)} services · "
        f"{len(scenario.deployments)} deployments · {len(scenario.incidents)} incidents · "
        f"now = {scenario.now:%Y-%m-%d %H:%M} UTC · store {runtime.store.engine.url.render_as_string(hide_password=True)}"
    )
    for i, (question, command) in enumerate(DEMO_QUESTIONS, start=1):
        console.print(Rule(f"{question}  ›  /triops {command}"))
        reply = router.handle(command, Asker(user="demo", surface="console"))
        console.print(to_rich(reply))
        slug = re.sub(r"[^a-z0-9]+", "-", command.lower()).strip("-") or "help"
        (out_dir / f"{i:02d}-{slug}.json").write_text(json.dumps({"blocks": to_blocks(reply)}, indent=2))
        for name, png in images(reply):
            (out_dir / f"{i:02d}-{name}").write_bytes(png)
            console.print(f"chart: {out_dir / f'{i:02d}-{name}'}")
    _incident_post(runtime, router, console, out_dir)
    console.print(Rule())
    console.print(f"Block Kit JSON of every answer: {out_dir}/")
    return out_dir


def _incident_post(runtime: Runtime, router: Router, console: Console, out_dir: Path) -> None:
    """The alert storm's incident: its detail, and the card posted in the incident channel."""
    from bot.render.alerts import incident_card
    from tools.alerts.summary import first_runbook, runbook_candidates
    from tools.runbooks.tool import runbook_lookup
    from tools.store import alerts as alert_store

    with runtime.store.engine.connect() as conn:
        open_incidents = alert_store.list_incidents(conn, status="open", limit=1)
    if not open_incidents:
        return
    inc = open_incidents[0]
    console.print(Rule(f"The storm after the bad deploy  ›  /triops incident {inc.id}"))
    console.print(to_rich(router.handle(f"incident {inc.id}", Asker(user="demo", surface="console"))))
    detail = runtime.call("incident_get", {"id": inc.id})
    runbook = first_runbook(runbook_lookup(runtime.ctx), runbook_candidates(inc, detail.alerts))
    card = [b.to_dict() for b in incident_card(inc, runbook)]
    path = out_dir / "incident-channel-post.json"
    path.write_text(json.dumps({"blocks": card}, indent=2))
    console.print(f"The incident channel's message (one per incident, updated in place): {path}")
