"""Text in, `Reply` out: the one path Slack, the console and the CLI all share.

`verb args…` goes to a command; anything else goes to the free-text handler (the agent,
or the no-LLM planner), or to help when none is installed. No exception escapes.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable

from pydantic import BaseModel

from bot.commands import all_commands
from bot.commands.base import Command, Reply
from bot.runtime import Runtime
from tools.errors import ToolError

log = logging.getLogger("triops.router")


class Asker(BaseModel):
    """Who asks and where: the conversation key for follow-ups."""

    user: str = "console"
    surface: str = "console"  # slack | console | cli
    channel: str | None = None
    thread_ts: str | None = None

    @property
    def conversation_key(self) -> str:
        return f"{self.surface}:{self.channel or '-'}:{self.thread_ts or self.user}"


FreeTextHandler = Callable[[Runtime, str, Asker], Reply]


class Router:
    def __init__(
        self,
        runtime: Runtime,
        commands: list[Command] | None = None,
        free_text: FreeTextHandler | None = None,
    ):
        self.runtime = runtime
        self.commands = commands if commands is not None else all_commands()
        self.free_text = free_text
        self._by_verb: dict[str, Command] = {}
        for c in self.commands:
            for name in (c.verb, *c.aliases):
                self._by_verb[name] = c

    def command_verbs(self) -> set[str]:
        """Every verb and alias (the Slack surface answers these at once, without a status)."""
        return set(self._by_verb)

    def handle(self, text: str, asker: Asker | None = None) -> Reply:
        asker = asker or Asker()
        try:
            return self._dispatch(text.strip(), asker)
        except ToolError as exc:
            return Reply(error=exc.as_dict(), ephemeral=True)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("command failed (ref %s): %r", ref, text[:200])
            return Reply(
                error={
                    "error": f"Something went wrong on my side (ref {ref}). It is logged.",
                    "hint": "Try again, or `help` for what I can do.",
                    "choices": [],
                },
                ephemeral=True,
            )

    def _dispatch(self, text: str, asker: Asker) -> Reply:
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        if not words or words[0].lower() in {"help", "?", "-h", "--help"}:
            return self.help_reply()
        command = self._by_verb.get(words[0].lower())
        if command:
            reply = command.handler(self.runtime, words[1:])
            # "dora for checkout this month" is a sentence, not bad arguments: let the
            # free-text handler read it. Short command lines keep their precise error.
            if reply.error and self.free_text and len(words) >= 4:
                return self.free_text(self.runtime, text, asker)
            return reply
        if self.free_text:
            return self.free_text(self.runtime, text, asker)
        return self.help_reply(
            prefix=f"I don't know the command `{words[0]}`. Here is what I can do:"
        )

    def help_reply(self, prefix: str | None = None) -> Reply:
        cmd = self.runtime.settings.slack_command
        lines = [prefix or "*triops* answers about delivery (DORA), models and alerts."]
        for c in self.commands:
            lines.append(f"• `{cmd} {c.usage}` — {c.summary}")
            if c.examples:
                lines.append("    e.g. " + ", ".join(f"`{cmd} {e}`" for e in c.examples))
        lines.append(f"• `{cmd} help` — this list")
        if self.free_text:
            lines.append("Or just ask in plain words: mention me or reply in my thread.")
        return Reply(text="\n".join(lines), ephemeral=True)
