"""Bolt listeners for a human's decisions on an incident card: confirm or reject the
suspect change (which links the incident to its deployment for DORA), merge another open
incident into this one, split a service (and what depends on it) out of it.

Each decision goes through tools.alerts.decisions (recorded with who decided, audited);
the reply goes to the card's thread. Wire it as a Bolt extension:
`build_app(router, extensions=[register_actions, register_incident_actions, ...])`.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.alerts_runtime import get_pipeline
from bot.render.alerts import (
    CONFIRM_CAUSE,
    MERGE_INTO,
    MERGE_PICK,
    REJECT_CAUSE,
    SPLIT_PICK,
    SPLIT_SERVICE,
    esc,
)
from bot.router import Router
from tools.alerts import decisions
from tools.alerts import incidents as incident_reads
from tools.errors import ToolError

log = logging.getLogger("triops.slack")


def _action(body: dict) -> dict:
    return (body.get("actions") or [{}])[0]


def _value(body: dict) -> str:
    a = _action(body)
    if a.get("type") == "static_select":
        return str((a.get("selected_option") or {}).get("value", ""))
    return str(a.get("value", ""))


def register_incident_actions(app: App, router: Router) -> None:
    """Register the decision buttons' listeners (a Bolt `Extension`)."""
    rt = router.runtime

    def reply(client: WebClient, body: dict, text: str, blocks: list | None = None) -> None:
        channel = body.get("channel", {}).get("id") or rt.settings.incident_channel
        ts = body.get("message", {}).get("ts") or body.get("container", {}).get("message_ts")
        if channel:
            client.chat_postMessage(channel=channel, thread_ts=ts, text=text, blocks=blocks, unfurl_links=False)

    def user_of(body: dict) -> str:
        return str(body.get("user", {}).get("id", "?"))

    def pair(body: dict) -> tuple[str, str]:
        left, _, right = _value(body).partition("|")
        return left, right

    def notify(*incident_ids: str) -> None:
        for listener in get_pipeline(rt).listeners:  # the card updates like after any change
            listener(list(incident_ids))

    @app.action(CONFIRM_CAUSE)
    def on_confirm(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        iid, dep = pair(body)
        user = user_of(body)
        try:
            dora_id = decisions.confirm_cause(get_pipeline(rt), iid, dep, user)
        except ToolError as exc:
            reply(client, body, f":warning: {esc(exc.message)}")
            return
        reply(client, body, f":white_check_mark: <@{user}> confirmed deployment `{esc(dep)}` as the cause of `{esc(iid)}`: "
                            f"it counts as a failed deployment in DORA (`{esc(dora_id)}`); this incident's resolution ends its recovery. "
                            "Press *Not this* to undo.")

    @app.action(REJECT_CAUSE)
    def on_reject(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        iid, change = pair(body)
        user = user_of(body)
        try:
            undone = decisions.reject_cause(get_pipeline(rt), iid, change, user)
        except ToolError as exc:
            reply(client, body, f":warning: {esc(exc.message)}")
            return
        what = "undid the confirmation: no longer a DORA failure" if undone else "marked it as not the cause"
        reply(client, body, f":x: <@{user}> {what} (`{esc(change)}` for `{esc(iid)}`).")

    @app.action(MERGE_PICK)
    def on_merge_pick(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        iid = _value(body)
        choices = decisions.open_incident_choices(get_pipeline(rt), iid)
        if not choices:
            reply(client, body, "No other open incident to merge into this one.")
            return
        options = [{"text": {"type": "plain_text", "text": f"{oid} · {title}"[:75]}, "value": f"{iid}|{oid}"}
                   for oid, title in choices]
        reply(client, body, f"Merge which incident into {iid}?",
              _picker(f"merge:{iid}", f"Merge which incident into `{esc(iid)}`?", MERGE_INTO, options,
                      "an open incident"))

    @app.action(MERGE_INTO)
    def on_merge(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        into, other = pair(body)
        user = user_of(body)
        try:
            rec = decisions.merge(get_pipeline(rt), into, other, user)
        except ToolError as exc:
            reply(client, body, f":warning: {esc(exc.message)}")
            return
        notify(rec.into, rec.merged)
        reply(client, body, f":link: <@{user}> merged `{esc(rec.merged)}` into `{esc(rec.into)}` (both ids lead here).")

    @app.action(SPLIT_PICK)
    def on_split_pick(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        iid = _value(body)
        found = incident_reads.get_incident(rt.store, iid)
        services = found[0].services if found else []
        if len(services) < 2:
            reply(client, body, f"`{esc(iid)}` has one service: nothing to split.")
            return
        options = [{"text": {"type": "plain_text", "text": svc[:75]}, "value": f"{iid}|{svc}"} for svc in services[:100]]
        reply(client, body, f"Split which service out of {iid}?",
              _picker(f"split:{iid}", f"Split which service (and what depends on it) out of `{esc(iid)}`?",
                      SPLIT_SERVICE, options, "a service"))

    @app.action(SPLIT_SERVICE)
    def on_split(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        iid, service = pair(body)
        user = user_of(body)
        try:
            rec = decisions.split_by_service(get_pipeline(rt), iid, service, user)
        except ToolError as exc:
            reply(client, body, f":warning: {esc(exc.message)}")
            return
        notify(rec.merged, rec.into)
        reply(client, body, f":scissors: <@{user}> split {esc(service)} out of `{esc(rec.merged)}` into `{esc(rec.into)}`.")


def _picker(block_id: str, text: str, action_id: str, options: list[dict[str, Any]],
            placeholder: str) -> list[dict[str, Any]]:
    """One section asking the clicker to pick from `options` (Block Kit static_select)."""
    return [{"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text},
             "accessory": {"type": "static_select", "action_id": action_id, "options": options,
                           "placeholder": {"type": "plain_text", "text": placeholder}}}]
