"""The agent in Slack: answers in threads with a status first, follow-ups, and approvals.

- `@triops …` (wired in bot/slack/app.py), a DM, or a reply in a thread the bot is already
  talking in → a status ("Looking at delivery metrics…") posted in the thread at once, then
  replaced (chat.update) by the answer. The conversation key is the thread, and the turns
  live in the store, so another replica or a restart continues the conversation.
- A suggested action is posted in the thread with Approve / Deny buttons; a click is
  checked against the approver user group (usergroups.users.list) before anything runs.

Bots, edits and Slack's retries are filtered once, by the app's global middleware
(bot/slack/app.py); which messages are ours is said by listener matchers. The agent's heavy
modules (planner, LLM client) are imported on first use, so registering these listeners
costs nothing at start-up.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.render import to_blocks, to_text
from bot.reply import Reply
from bot.router import Asker, Router
from bot.slack.app import answer_pool, submit_answer
from tools import approvals, audit
from tools import conversations as conv_store

log = logging.getLogger("triops.agent.slack")

APPROVE = "triops_action_approve"
DENY = "triops_action_deny"
MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
THINKING = "Thinking…"


def status_text(router: Router, text: str) -> str:
    """The status of the capability the question is about: the planner's intent names the
    tools it calls, and its first tool's capability says what it is doing. A status line is
    a courtesy: if the planner cannot place the question, "Thinking…" (logged, not raised)."""
    from bot.agent.surface import assistant_for

    try:
        planner = assistant_for(router.runtime).planner
        intent = planner.intents.get(planner.route(text).intent)
    except Exception:
        log.exception("no status line for %r", text[:80])
        return THINKING
    steps = intent.tools if intent is not None else []
    cap = router.capabilities.get(steps[0].tool) if steps else None
    return cap.status if cap is not None else THINKING


def is_command(router: Router, text: str) -> bool:
    return router.is_command(text.strip())


def answer_in_thread(client: WebClient, router: Router, text: str, asker: Asker, channel: str, thread_ts: str | None) -> Reply:
    """Answer `text` in the thread: a command directly; free text with a status message first."""
    if not text.strip() or is_command(router, text) or router.free_text is None:
        reply = router.handle(text, asker)
        if text.strip() and not reply.error:  # the bot is now in this thread: follow-ups have context
            conv_store.append_turn(  # stored before it is posted, so a quick reply finds it
                router.runtime.store, asker.conversation_key,
                conv_store.Turn(question=text[:2000], answer=to_text(reply)[:4000]), tokens=0,
                max_history_tokens=router.runtime.settings.agent_history_tokens,
            )
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=to_text(reply)[:3000], blocks=to_blocks(reply))
        return reply
    status = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=status_text(router, text))
    reply = router.handle(text, asker)  # never raises: errors come back as a Reply
    try:
        client.chat_update(channel=channel, ts=status["ts"], text=to_text(reply)[:3000], blocks=to_blocks(reply))
    except SlackApiError as exc:  # e.g. blocks Slack refused: the answer still arrives, as text
        log.warning("chat.update failed (%s); posting the answer as text", exc.response.get("error"))
        client.chat_update(channel=channel, ts=status["ts"], text=to_text(reply)[:3900])
    post_suggestions(client, router.runtime.store, asker.conversation_key, channel, thread_ts, router.runtime.ctx)
    return reply


# --- suggested actions ------------------------------------------------------------------------------
def suggestion_blocks(req: approvals.ActionRequest, preview: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The card: the action, its dry-run (effect, blast radius), why, and Approve/Deny while pending.
    Arguments and reasons are data: shown in code spans / italics, never acted on."""
    args = ", ".join(f"{k}=`{_code(v)}`" for k, v in req.args.items()) or "no arguments"
    text = f":wrench: *Suggested action:* `{req.action}` ({args})"
    if preview:
        text += f"\n*Effect (dry-run):* {preview.get('effect', '')}\n*Blast radius:* {preview.get('blast_radius', '')}"
    if req.reason:
        text += f"\n_Why:_ {req.reason[:1500]}"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=text[:2900]))]
    if req.status == "pending":
        blocks.append(ActionsBlock(block_id=f"action_{req.id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=req.id, style="primary"),
            ButtonElement(text="Deny", action_id=DENY, value=req.id, style="danger"),
        ]))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="Nothing runs until a member of the approver group approves it.")]))
    elif req.result and req.status in ("executed", "failed"):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"*Result:* {_result_line(req.result)}"[:2900])]))
    return [b.to_dict() for b in blocks]


def _code(v: Any) -> str:
    return str(v).replace("`", "'")[:300]


def _result_line(result: str) -> str:
    import json

    try:
        data = json.loads(result)
    except ValueError:
        return result[:500]
    if isinstance(data, dict):
        return str(data.get("summary") or data.get("message") or data)[:500]
    return str(data)[:500]


def post_suggestions(client: WebClient, store: Any, key: str, channel: str, thread_ts: str | None,
                     ctx: Any = None) -> None:
    """Post each new suggestion with its dry-run (computed now with `ctx`, kept for the card)."""
    from bot.agent import actions

    for req in approvals.unposted(store, key):
        preview = (approvals.followup(store, req.id) or {}).get("preview")
        if preview is None and ctx is not None:
            preview = actions.preview(ctx, req.action, req.args)
            if preview is not None:
                approvals.save_preview(store, req.id, preview, None)
        resp = client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=f"Suggested action: {req.action} (needs approval)",
                                       blocks=suggestion_blocks(req, preview))
        approvals.mark_posted(store, req.id, channel, resp["ts"])


OUTCOME_ICON = {"worked": ":white_check_mark:", "no_effect": ":warning:", "failed": ":x:"}


def run_followups(client: WebClient, ctx: Any) -> int:
    """One pass of the actions' background work, for a periodic worker: expire suggestions
    nobody decided (TRIOPS_ACTION_TTL) and run the follow-up checks that are due
    (TRIOPS_ACTION_VERIFY_DELAY), updating each card. Returns how many cards changed."""
    from tools.actions import outcomes
    from tools.timeutil import now_utc

    store, changed = ctx.store, 0
    now = now_utc().timestamp()
    for rid in approvals.expire_stale(store, now - ctx.settings.action_ttl):
        req = approvals.get(store, rid)
        audit.record(store, "triops", "expire", req.action if req else rid, request=rid, reason="no decision in time")
        changed += _update_card(client, store, rid, "Expired: nobody decided in time; nothing ran.")
    for rid, check in outcomes.run_due_checks(ctx, now):
        req = approvals.get(store, rid)
        audit.record(store, "triops", "verify", req.action if req else rid, request=rid, outcome=check.outcome, detail=check.detail)
        changed += _update_card(client, store, rid, f"{OUTCOME_ICON[check.outcome]} *Follow-up check:* {check.outcome.replace('_', ' ')}: {check.detail}")
    return changed


def _update_card(client: WebClient, store: Any, rid: str, line: str) -> int:
    req = approvals.get(store, rid)
    if req is None or not (req.channel and req.message_ts):
        return 0
    blocks = suggestion_blocks(req, (approvals.followup(store, rid) or {}).get("preview"))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=line[:2900])]).to_dict())
    try:
        client.chat_update(channel=req.channel, ts=req.message_ts, text=line[:3000], blocks=blocks)
    except SlackApiError as exc:
        log.warning("could not update the card of %s: %s", rid, exc.response.get("error"))
        return 0
    return 1


def approver_check(client: WebClient, group: str | None) -> Callable[[str], bool]:
    """user -> bool, asking Slack who is in the approver group (usergroups.users.list)."""

    def check(user: str) -> bool:
        if not group:
            return False
        try:
            resp = client.usergroups_users_list(usergroup=group)
        except Exception:
            log.exception("usergroups.users.list failed; refusing the approval")
            return False
        return user in (resp.get("users") or [])

    return check


def _decide(router: Router, body: dict, client: WebClient, approve: bool) -> None:
    from bot.agent import actions

    rt = router.runtime
    user = body.get("user", {}).get("id", "?")
    action = (body.get("actions") or [{}])[0]
    rid = action.get("value") or ""
    clicked_on = ((body.get("channel") or {}).get("id"), (body.get("message") or {}).get("ts"))
    req = approvals.get(rt.store, rid) if re.fullmatch(r"[0-9a-f]{32}", rid) else None
    if req is None or (req.message_ts and clicked_on != (req.channel, req.message_ts)):
        # a value that is no suggestion, or a real one clicked from a message that is not its card
        audit.record(rt.store, user, "approval_refused", rid[:64], reason="button does not match a suggestion card")
        if clicked_on[0]:
            client.chat_postEphemeral(channel=clicked_on[0], user=user, text="This button does not match a pending suggestion; nothing ran.")
        return
    decision = actions.decide(rt.registry, rt.ctx, rt.settings, rid, user, approve,
                              approver_check(client, rt.settings.approver_user_group))
    channel = (body.get("channel") or {}).get("id") or (decision.request.channel if decision.request else None)
    message_ts = (body.get("message") or {}).get("ts") or (decision.request.message_ts if decision.request else None)
    if decision.status == "refused" or decision.request is None:  # tell only the clicker
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=decision.message)
        return
    if decision.request and channel and message_ts:
        follow = approvals.followup(rt.store, decision.request.id) or {}
        blocks = suggestion_blocks(decision.request, follow.get("preview"))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=decision.message)]).to_dict())
        client.chat_update(channel=channel, ts=message_ts, text=decision.message, blocks=blocks)


def _suggest_runbook_step(router: Router, body: dict, client: WebClient) -> None:
    """A runbook step's button on an incident card: its command, parsed again into a typed
    action, becomes a suggestion in the card's thread — the normal card with Approve/Deny.
    A value that is no step of this card's incident, or no action, suggests nothing."""
    import json

    from bot.agent import actions
    from tools.actions.commands import action_for_command
    from tools.alerts.incidents import slack_message
    from tools.errors import ToolError

    rt = router.runtime
    user = body.get("user", {}).get("id", "?")
    channel = (body.get("channel") or {}).get("id") or ""
    card_ts = (body.get("message") or {}).get("ts") or (body.get("container") or {}).get("message_ts") or ""

    def refuse(text: str, why: str) -> None:
        audit.record(rt.store, user, "suggest_refused", "runbook_step", reason=why)
        if channel:
            client.chat_postEphemeral(channel=channel, user=user, text=text)

    try:
        data = json.loads((body.get("actions") or [{}])[0].get("value") or "")
        incident, step, command = str(data["i"])[:64], int(data.get("s") or 0), str(data["c"])[:1000]
    except (ValueError, KeyError, TypeError, AttributeError):
        return refuse("This button does not carry a runbook step; nothing was suggested.", "malformed value")
    if slack_message(rt.store, incident) != (channel, card_ts):
        return refuse("This button does not belong to that incident's card; nothing was suggested.", "not the incident's card")
    found = action_for_command(command)
    if found is None:
        return refuse(f"`{_code(command)}` is not a command triops can offer as an action; nothing was suggested.",
                      "not an action")
    name, args = found
    args["incident_id"] = incident  # every action a runbook command maps to takes the triops incident
    reason = f"Runbook step {step} of incident {incident}: `{_code(command)}` (offered by <@{user}>)"
    try:
        s = actions.validate(rt.registry, rt.settings, actions.Suggestion(action=name, args=args, reason=reason))
    except ToolError as exc:
        return refuse(f"{exc.message} {exc.hint or ''}".strip()[:2900], "invalid: " + exc.message[:200])
    key = Asker(surface="slack", channel=channel, thread_ts=card_ts).conversation_key
    if approvals.pending_like(rt.store, key, s.action, s.args) is not None:
        return refuse("That step is already suggested in the incident's thread, waiting for an approver.", "already pending")
    actions.record(rt.store, s, key=key, by="runbook", actor=user, ctx=rt.ctx)
    post_suggestions(client, rt.store, key, channel, card_ts, rt.ctx)


# --- listeners ---------------------------------------------------------------------------------------
def agent_extension(app: App, router: Router) -> None:
    """Bolt listeners for DMs, thread replies, the approval buttons and runbook-step buttons."""
    from bot.render.alerts import RUNBOOK_ACTION

    store = router.runtime.store

    def in_a_dm_or_our_thread(event: dict, context: BoltContext) -> bool:
        """A DM, or a reply in a thread the bot is talking in (not a mention in a channel:
        the app_mention listener answers that one)."""
        if event.get("channel_type") == "im":
            return True
        if not event.get("thread_ts"):
            return False
        if context.bot_user_id and f"<@{context.bot_user_id}" in (event.get("text") or ""):
            return False
        key = Asker(surface="slack", channel=event.get("channel"), thread_ts=event["thread_ts"]).conversation_key
        return conv_store.exists(store, key)

    answers = answer_pool(app)

    # "subtype": None — plain user messages only (no joins, edits, bot posts). Answered on the
    # answer pool like commands and mentions: a slow LLM never holds the threads that ack.
    @app.event({"type": "message", "subtype": None}, matchers=[in_a_dm_or_our_thread])
    def on_message(event: dict, body: dict, client: WebClient, context: BoltContext) -> None:
        channel = event.get("channel") or ""
        thread_ts = event.get("thread_ts")
        is_dm = event.get("channel_type") == "im"
        text = MENTION_RE.sub("", event.get("text") or "").strip()
        asker = Asker(user=event.get("user", "?"), surface="slack", channel=channel, thread_ts=thread_ts)

        def work() -> None:
            audit.record(store, asker.user, "dm" if is_dm else "thread_reply", text[:200], channel=channel)
            answer_in_thread(client, router, text, asker, channel, thread_ts)

        def tell(notice: str) -> None:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=notice)

        submit_answer(answers, work, body, context, tell, f"{'DM' if is_dm else 'thread reply'} from {asker.user}")

    @app.action(APPROVE)
    def approve(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        _decide(router, body, client, approve=True)

    @app.action(DENY)
    def deny(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        _decide(router, body, client, approve=False)

    @app.action(re.compile(f"^{re.escape(RUNBOOK_ACTION)}:[0-9]+$"))
    def runbook_step(ack: Ack, body: dict, client: WebClient) -> None:
        ack()
        _suggest_runbook_step(router, body, client)
