"""All slash-command verbs, one module per domain; a new domain adds its list here."""

from __future__ import annotations

from bot.commands import agent, alerts, dora, mlops, runbook
from bot.commands.base import Command


def all_commands() -> list[Command]:
    return [*dora.COMMANDS, *alerts.COMMANDS, *runbook.COMMANDS, *mlops.COMMANDS, *agent.COMMANDS]
