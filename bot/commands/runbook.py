"""`/triops runbook <alert name or question>` — the runbook, its first steps, and the link."""

from __future__ import annotations

from bot.commands.base import Command, Reply, run_tool
from bot.runtime import Runtime

USAGE = "runbook <alert name or question>"


def handle(rt: Runtime, args: list[str]) -> Reply:
    query = " ".join(args).strip()
    if not query:
        return Reply(
            error={"error": "Tell me the alert or the problem.", "hint": f"Usage: {USAGE}",
                   "choices": []},
            ephemeral=True,
        )
    return run_tool(rt, "runbook_search", {"query": query[:2000]})


COMMANDS = [
    Command(
        verb="runbook",
        usage=USAGE,
        summary="Find the runbook for an alert or a problem, with its first steps and commands",
        handler=handle,
        aliases=("runbooks", "rb"),
        examples=("runbook KubePodCrashLooping", "runbook etcd has no leader"),
    )
]
