"""Runbook answer: the runbook and link, its first steps with commands — or plainly "none".

Runbook text is data from files anyone may edit: it is escaped for Slack (no <!channel>,
no fake links) and shown as quoted steps, never acted on.
"""

from __future__ import annotations

import re

from rich.console import Group
from rich.markdown import Markdown
from rich.panel import Panel
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render.registry import Renderer
from knowledge.models import RemediationStep, RunbookHit, RunbookSuggestion
from tools.runbooks.models import RunbookResults

SECTION_LIMIT = 3000
COMMAND_LIMIT = 600
_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


def slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Escaped for Slack, then markdown links and bold turned into Slack's syntax."""
    text = slack_escape(markdown)
    text = _MD_LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1).replace('|', '/')}>", text)
    return _BOLD.sub(r"*\1*", text)


def _link(hit: RunbookHit) -> str:
    title = slack_escape(hit.title).replace("|", "/")
    return f"<{hit.url}|{title}>" if hit.url else f"*{title}* (`{slack_escape(hit.corpus + '/' + hit.path)}`)"


def _why(r: RunbookResults) -> str:
    top = r.hits[0]
    if top.alert_name_match:
        return "matched by alert name"
    return f"confidence {r.confidence:.2f} (bar {r.threshold:.2f})"


def _nearest(r: RunbookResults) -> str:
    if r.unknown_alerts:
        return "Runbooks of related alerts — _not for this alert_"
    return f"Nearest runbooks — _not a match_ (confidence {r.confidence:.2f} < {r.threshold:.2f})"


def _step_mrkdwn(s: RemediationStep) -> str:
    lines = [f"*{s.number}.* {to_mrkdwn(s.text)}"]
    for cmd in s.commands:
        body = cmd if len(cmd) <= COMMAND_LIMIT else cmd[: COMMAND_LIMIT - 1] + "…"
        lines.append(f"```{slack_escape(body)}```")
    return "\n".join(lines)


def _pack(parts: list[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Join parts into texts no longer than a section allows."""
    out: list[str] = []
    cur = ""
    for p in parts:
        p = p[:limit]
        if cur and len(cur) + 1 + len(p) > limit:
            out.append(cur)
            cur = p
        else:
            cur = f"{cur}\n{p}" if cur else p
    if cur:
        out.append(cur)
    return out


def blocks(r: RunbookResults) -> list[Block]:
    query = slack_escape(r.query)[:200]
    if not r.found:
        lines = [f":mag: *No runbook found* for “{query}”."]
        if r.unknown_alerts:
            names = ", ".join(f"`{slack_escape(n)}`" for n in r.unknown_alerts)
            lines.append(f"No runbook in the corpus covers {names}.")
        out: list[Block] = [SectionBlock(text=MarkdownTextObject(text="\n".join(lines)))]
        if r.hits:
            near = "\n".join(f"• {_link(h)}" for h in r.hits[:3])
            out.append(SectionBlock(text=MarkdownTextObject(text=f"{_nearest(r)}:\n{near}")))
        out.append(ContextBlock(elements=[MarkdownTextObject(
            text="Add your team's runbooks: `triops kb ingest DIR --name NAME`")]))
        return out
    top = r.hits[0]
    out = [
        HeaderBlock(text=f"Runbook · {top.title}"[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"{_link(top)} — {_why(r)}")),
    ]
    meaning = next((s for s in top.snippets if s.section.lower().startswith("meaning")), None)
    if meaning:
        out.append(ContextBlock(elements=[MarkdownTextObject(text=to_mrkdwn(meaning.text)[:2000])]))
    if r.steps:
        out.append(DividerBlock())
        out.extend(SectionBlock(text=MarkdownTextObject(text=t))
                   for t in _pack(["*First steps* (quoted from the runbook)", *(_step_mrkdwn(s) for s in r.steps)]))
    elif top.snippets:
        out.extend(SectionBlock(text=MarkdownTextObject(text=f"*{slack_escape(s.section)}* — {to_mrkdwn(s.text)}"[:SECTION_LIMIT]))
                   for s in top.snippets)
    if len(r.hits) > 1:
        others = " · ".join(_link(h) for h in r.hits[1:])
        out.append(ContextBlock(elements=[MarkdownTextObject(text=f"Also related: {others}"[:3000])]))
    return out[:50]


def _command_lines(cmd: str) -> list[str]:
    """A quoted command block's shell lines, one per line (blank lines dropped): a block
    often holds several commands, which must never run together on one line."""
    return [line.rstrip() for line in cmd.splitlines() if line.strip()]


def _shell(commands: list[str]) -> list[str]:
    return [f"     $ {line}" for c in commands for line in _command_lines(c)]


def text(r: RunbookResults) -> str:
    if not r.found:
        lines = [f"No runbook found for “{r.query}”."]
        if r.unknown_alerts:
            lines.append(f"No runbook covers {', '.join(r.unknown_alerts)}.")
        if r.hits:
            lines.append(f"{_nearest(r)}:".replace("_", ""))
            lines += [f"- {h.title}: {h.link}" for h in r.hits[:3]]
        return "\n".join(lines)
    top = r.hits[0]
    lines = [f"Runbook: {top.title} — {top.link} ({_why(r)})"]
    for s in r.steps:
        lines.append(f"{s.number}. [{s.section}] {s.text}")
        lines += _shell(s.commands)
    if len(r.hits) > 1:
        lines.append("Also related: " + ", ".join(h.title for h in r.hits[1:]))
    return "\n".join(lines)


def rich(r: RunbookResults) -> Panel:
    if not r.found:
        return Panel(text(r), title="runbook", border_style="yellow")
    top = r.hits[0]
    md = [f"**{top.title}** — {top.link}  \n_{_why(r)}_", ""]
    for s in r.steps:
        md.append(f"{s.number}. *{s.section}* — {s.text}")
        md += ["\n   ```\n" + "".join(f"   {line}\n" for line in _command_lines(c)) + "   ```" for c in s.commands]
    if len(r.hits) > 1:
        md += ["", "Also related: " + ", ".join(h.title for h in r.hits[1:])]
    return Panel(Group(Markdown("\n".join(md))), title=f"runbook · {top.title}", border_style="green")


def suggestion_blocks(s: RunbookSuggestion, max_steps: int = 3) -> list[Block]:
    """The runbook part of an incident post: link, why it was picked, first steps."""
    title = slack_escape(s.title).replace("|", "/")
    link = f"<{s.url}|{title}>" if s.url else f"*{title}* (`{slack_escape(s.path)}`)"
    why = "matched by alert name" if s.matched_by == "alert_name" else f"confidence {s.confidence:.2f}"
    parts = [f":book: *Runbook:* {link} — {why}", *(_step_mrkdwn(st) for st in s.steps[:max_steps])]
    return [SectionBlock(text=MarkdownTextObject(text=t)) for t in _pack(parts)]


def suggestion_text(s: RunbookSuggestion, max_steps: int = 3) -> str:
    lines = [f"Runbook: {s.title} — {s.link}"]
    for st in s.steps[:max_steps]:
        lines.append(f"{st.number}. {st.text}")
        lines += _shell(st.commands)
    return "\n".join(lines)


RENDERER = Renderer(blocks=blocks, text=text, rich=rich)
SUGGESTION = Renderer(blocks=suggestion_blocks, text=suggestion_text,
                      rich=lambda s: Panel(suggestion_text(s), title="runbook"))
