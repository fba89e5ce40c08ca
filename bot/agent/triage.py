"""Automatic triage of a new incident (TRIOPS_AUTO_TRIAGE): the agent's summary in its thread.

The alert pipeline calls `triage_incident` after it has posted the incident's message; the
thread of that message becomes a conversation like any other, so people can ask follow-ups.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

import prompts
from bot.agent.injection import WITHHELD, looks_like_injection
from bot.agent.slack import post_suggestions
from bot.agent.surface import assistant_for, to_reply
from bot.render import to_blocks, to_text
from bot.router import Asker
from bot.runtime import Runtime

log = logging.getLogger("triops.agent.triage")


def triage_incident(
    rt: Runtime,
    client: WebClient,
    *,
    channel: str,
    thread_ts: str,
    title: str,
    services: list[str] | None = None,
    incident_id: str | None = None,
) -> bool:
    """Post the agent's triage in the incident's thread; False when the setting is off."""
    if not rt.settings.auto_triage:
        return False
    if looks_like_injection(title):
        title = WITHHELD
    question = prompts.render("auto_triage", title=title[:300], services=services or [], incident_id=incident_id)
    asker = Asker(user="triops", surface="slack", channel=channel, thread_ts=thread_ts)
    try:
        ans = assistant_for(rt).ask(question, key=asker.conversation_key, actor="auto-triage", intent="triage")
    except Exception:  # triage is a help, never a reason for the alert path to fail
        log.exception("auto-triage failed for %s", incident_id)
        return False
    reply = to_reply(ans)
    client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=to_text(reply)[:3000], blocks=to_blocks(reply))
    post_suggestions(client, rt.store, asker.conversation_key, channel, thread_ts)
    return True
