"""Runbooks: the right runbook for an alert or a problem, with its first steps."""

from __future__ import annotations

from typing import Any

from bot.capabilities.base import Capability
from tools.errors import ToolError

ORDER = 30


def parse_runbook(words: list[str]) -> dict[str, Any]:
    query = " ".join(words).strip()
    if not query:
        raise ToolError("Tell me the alert or the problem.", hint="Usage: runbook <alert name or question>")
    return {"query": query[:2000]}


CAPABILITIES = [
    Capability(
        name="runbook_search",
        tool="tools.runbooks.tool:runbook_search",
        input="tools.runbooks.models:RunbookQuery",
        summary="Find the runbook for an alert or a problem, with its first steps and commands",
        verbs=("runbook", "runbooks", "rb"),
        usage="<alert name or question>",
        examples=("runbook KubePodCrashLooping", "runbook etcd has no leader"),
        parse=parse_runbook,
        render="bot.render.runbooks:RENDERER",
        cli="kb search",
        cli_args=("query",),
        intents="runbooks.yaml",
        module=__file__,
        status="Looking for the runbook…",
    )
]
