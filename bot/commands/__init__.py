"""All slash-command verbs, one module per domain; a new domain adds its list here."""

from __future__ import annotations

from bot.commands import dora
from bot.commands.base import Command


def all_commands() -> list[Command]:
    return [*dora.COMMANDS]
