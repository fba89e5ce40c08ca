"""Turn a `Reply` into Block Kit, plain text or a rich renderable.

Block Kit is built with slack_sdk.models.blocks, whose `to_dict()` checks Slack's limits.
Each capability names its renderer (bot/capabilities); results without one show as JSON.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markdown import Markdown
from rich.panel import Panel
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.registry import renderer_for
from bot.reply import Reply
from tools.errors import ErrorInfo

MAX_BLOCKS = 50
SECTION_LIMIT = 3000


def _error_text(err: ErrorInfo) -> str:
    parts = [f":warning: {err.message}"]
    if err.hint:
        parts.append(err.hint)
    if err.choices:
        parts.append("Choices: " + ", ".join(err.choices[:15]))
    return "\n".join(parts)


def _chunks(text: str, size: int = SECTION_LIMIT) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def to_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[Block] = []
    if reply.error:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_error_text(reply.error)[:SECTION_LIMIT])))
    if reply.text:
        blocks.extend(SectionBlock(text=MarkdownTextObject(text=c)) for c in _chunks(reply.text))
    for call in reply.results:
        if call.output is None:
            continue
        r = renderer_for(call)
        if r:
            blocks.extend(r.blocks(call.output))
        else:
            blocks.append(SectionBlock(text=MarkdownTextObject(text=f"```{call.output.model_dump_json(indent=1)[:2900]}```")))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[:MAX_BLOCKS - 1], ContextBlock(elements=[MarkdownTextObject(text="(more omitted)")])]
    return [b.to_dict() for b in blocks]


def to_text(reply: Reply) -> str:
    parts: list[str] = []
    if reply.error:
        parts.append(_error_text(reply.error).replace(":warning: ", "⚠ "))
    if reply.text:
        parts.append(reply.text)
    for call in reply.results:
        if call.output is None:
            continue
        r = renderer_for(call)
        parts.append(r.text(call.output) if r else call.output.model_dump_json(indent=2))
    return "\n\n".join(parts)


def to_rich(reply: Reply) -> Any:
    items: list[Any] = []
    if reply.error:
        items.append(Panel(_error_text(reply.error).replace(":warning: ", ""), title="error", border_style="red"))
    if reply.text:
        items.append(Markdown(reply.text.replace("•", "-")))
    for call in reply.results:
        if call.output is None:
            continue
        r = renderer_for(call)
        items.append(r.rich(call.output) if r else call.output.model_dump_json(indent=2))
    return Group(*items)
