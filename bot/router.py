"""Text in, `Reply` out: the one path Slack, the console and the CLI all share.

`verb args…` goes to the capability with that verb (bot/capabilities); anything else goes to
the free-text handler (the agent, or the no-LLM planner), or to help when none is installed.
No exception escapes.
"""

from __future__ import annotations

import logging
import shlex
import uuid
from collections.abc import Callable

from pydantic import BaseModel

from bot.capabilities import load
from bot.reply import Reply
from bot.runtime import Runtime
from tools.errors import ErrorInfo, TriopsError

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
    def __init__(self, runtime: Runtime, free_text: FreeTextHandler | None = None):
        self.runtime = runtime
        self.capabilities = runtime.capabilities
        self.free_text = free_text

    def command_verbs(self) -> set[str]:
        """Every first word of a verb (the Slack surface answers these at once, without a status)."""
        return {v.split()[0] for c in self.capabilities for v in c.verbs} | {"help"}

    def is_command(self, text: str) -> bool:
        words = text.split()
        return bool(words) and (words[0].lower() in {"help", "?"} or self.capabilities.by_verb(words) is not None)

    def handle(self, text: str, asker: Asker | None = None) -> Reply:
        asker = asker or Asker()
        try:
            return self._dispatch(text.strip(), asker)
        except TriopsError as exc:
            return Reply.failure(exc)
        except Exception:
            ref = uuid.uuid4().hex[:8]
            log.exception("command failed (ref %s): %r", ref, text[:200])
            return Reply(
                error=ErrorInfo(message=f"Something went wrong on my side (ref {ref}). It is logged.",
                                hint="Try again, or `help` for what I can do."),
                ephemeral=True,
            )

    def _dispatch(self, text: str, asker: Asker) -> Reply:
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
        if not words or words[0].lower() in {"help", "?", "-h", "--help"}:
            return self.help_reply()
        match = self.capabilities.by_verb(words)
        if match is not None:
            cap, used = match
            rest = words[used:]
            try:
                args = cap.parse_words(rest)
            except TriopsError as exc:
                # "dora for checkout this month" is a sentence, not bad arguments: let the
                # free-text handler read it. Short command lines keep their precise error.
                if self.free_text and len(words) >= 4:
                    return self.free_text(self.runtime, text, asker)
                if cap.choices and not exc.choices:
                    exc.choices = list(load(cap.choices)(self.runtime.ctx))[:15]
                return Reply.failure(exc)
            result = self.runtime.run(cap.name, args, actor=asker.user)
            if not result.ok and self.free_text and len(words) >= 4:
                return self.free_text(self.runtime, text, asker)
            return Reply.of(result)
        if self.free_text:
            return self.free_text(self.runtime, text, asker)
        return self.help_reply(prefix=f"I don't know the command `{words[0]}`. Here is what I can do:")

    def help_reply(self, prefix: str | None = None) -> Reply:
        cmd = self.runtime.settings.slack_command
        lines = [prefix or "*triops* answers about delivery (DORA), models and alerts."]
        for c in self.capabilities:
            if not c.verbs:
                continue
            lines.append(f"• `{cmd} {c.usage_line()}` — {c.summary}")
            if c.examples:
                lines.append("    e.g. " + ", ".join(f"`{cmd} {e}`" for e in c.examples))
        lines.append(f"• `{cmd} help` — this list")
        if self.free_text:
            lines.append("Or just ask in plain words: mention me or reply in my thread.")
        return Reply(text="\n".join(lines), ephemeral=True)
