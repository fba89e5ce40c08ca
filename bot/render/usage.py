"""The assistant's usage as Slack text and a console table."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.agent.usage_view import usage_table, usage_text
from bot.render.registry import Renderer
from tools.usage import UsageReport


def _text(r: UsageReport) -> str:
    return usage_text(r.lines, r.days)


def _blocks(r: UsageReport) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=_text(r)[:3000]))]


RENDERER = Renderer(blocks=_blocks, text=_text, rich=lambda r: usage_table(r.lines, r.days))
