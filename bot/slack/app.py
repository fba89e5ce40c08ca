"""The Bolt app: `/triops` (acked at once, answered by a lazy listener), @mentions, buttons.

Listeners do three things: turn the Slack payload into text and an `Asker`, call the shared
router, and post the rendered reply. Anything domain-specific lives behind the router.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.render import to_blocks, to_text
from bot.reply import Reply
from bot.router import Asker, Router
from tools.store import audit
from tools.store.slack_events import first_time_seen

log = logging.getLogger("triops.slack")

MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")

# Extra listeners (buttons, thread replies…) from other domains: fn(app, router) -> None.
Extension = Callable[[App, Router], None]


def web_client(settings: Any, token: str | None = None) -> WebClient:
    client = WebClient(token=token, base_url=settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(
    router: Router,
    *,
    authorize: Callable[..., AuthorizeResult] | None = None,
    extensions: list[Extension] | None = None,
) -> App:
    settings = router.runtime.settings
    if settings.slack_signing_secret is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is not set")
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {
        "signing_secret": settings.slack_signing_secret.get_secret_value(),
        "client": web_client(settings, token if authorize is None else None),
        "process_before_response": False,
    }
    if authorize is not None:
        kwargs["authorize"] = authorize
    else:
        kwargs["token"] = token
        kwargs["token_verification_enabled"] = False
    app = App(**kwargs)
    register_listeners(app, router)
    for ext in extensions or []:
        ext(app, router)
    return app


def post_reply(client: WebClient, channel: str, reply: Reply, thread_ts: str | None = None) -> dict:
    resp = client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=to_text(reply)[:3000], blocks=to_blocks(reply)
    )
    return resp.data if hasattr(resp, "data") else dict(resp)


def attach_images(client: WebClient, channel: str, reply: Reply, thread_ts: str | None = None) -> None:
    """Charts go up as files (files_upload_v2, scope files:write); a failed upload only logs."""
    from bot.render.charts import images

    for filename, png in images(reply):
        try:
            client.files_upload_v2(channel=channel, file=png, filename=filename, title=filename.removesuffix(".png"), thread_ts=thread_ts)
        except Exception as exc:  # a chart is a nicety: never lose the answer over it
            log.warning("chart upload %s to %s failed: %s", filename, channel, exc.__class__.__name__)


def register_listeners(app: App, router: Router) -> None:
    settings = router.runtime.settings
    store = router.runtime.store

    def ack_command(ack: Ack) -> None:
        ack()

    def run_command(body: dict, respond: Respond, client: WebClient) -> None:
        text = body.get("text") or ""
        asker = Asker(user=body.get("user_id", "?"), surface="slack", channel=body.get("channel_id"))
        audit.record(store, asker.user, "command", text[:200], channel=asker.channel)
        reply = router.handle(text, asker)
        respond(
            text=to_text(reply)[:3000],
            blocks=to_blocks(reply),
            response_type="ephemeral" if reply.ephemeral else "in_channel",
            replace_original=False,
        )
        if not reply.ephemeral and asker.channel:
            attach_images(client, asker.channel, reply)

    app.command(settings.slack_command)(ack=ack_command, lazy=[run_command])

    @app.event("app_mention")
    def on_mention(event: dict, body: dict, client: WebClient, context: BoltContext) -> None:
        if _from_a_bot(event, context) or not first_time_seen(store, body.get("event_id")):
            return
        text = MENTION_RE.sub("", event.get("text", "")).strip()
        thread_ts = event.get("thread_ts") or event.get("ts")
        asker = Asker(user=event.get("user", "?"), surface="slack", channel=event.get("channel"), thread_ts=thread_ts)
        audit.record(store, asker.user, "mention", text[:200], channel=asker.channel)
        from bot.agent.slack import answer_in_thread  # status first for free text, then the answer

        reply = answer_in_thread(client, router, text, asker, event["channel"], thread_ts)
        attach_images(client, event["channel"], reply, thread_ts=thread_ts)


def _from_a_bot(event: dict, context: BoltContext) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("subtype") in {"bot_message", "message_changed", "message_deleted"}
        or (context.bot_user_id and event.get("user") == context.bot_user_id)
    )
