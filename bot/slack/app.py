"""The Bolt app: `/triops` (acked at once, then answered), @mentions, buttons.

Listeners do three things: turn the Slack payload into text and an `Asker`, call the shared
router, and post the rendered reply. Anything domain-specific lives behind the router.

What every listener would otherwise repeat is Bolt's own machinery, registered once here:
global middleware drops events from bots (this one included) and edits, and Slack's retries
of an event already handled (by `event_id`, shared by replicas through the store); one
`app.error` handler logs a failure with a reference and tells the person, in one line.
With `process_before_response=False` a listener's `ack()` answers Slack at once and the
rest of the listener runs on Bolt's thread pool, where its errors reach `app.error`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse, Respond
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.render import to_blocks, to_text
from bot.reply import Reply
from bot.router import Asker, Router
from tools import audit
from tools.errors import StoreUnavailable
from tools.idempotency import first_time_seen

log = logging.getLogger("triops.slack")

MENTION_RE = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")
# Message subtypes that are never a person asking: bot posts and edits/deletions.
NOT_A_PERSON = frozenset({"bot_message", "message_changed", "message_deleted"})
APOLOGY = "Sorry, something went wrong on my side (ref {ref}). It is logged; try again in a moment."
STORE_DOWN = ":hourglass: The store is unavailable right now, retrying; I'll answer here when it is back."
STORE_GAVE_UP = ("The store is still unavailable (ref {ref}), so I could not answer. "
                 "It is logged; try again in a few minutes.")

BUSY = ":hourglass: Busy with other questions right now; I'll post the answer here when it is ready."
OVERLOADED = "Too many questions at once; I could not take this one. Please ask again in a minute."

# Extra listeners (buttons, thread replies…) from other domains: fn(app, router) -> None.
Extension = Callable[[App, Router], None]


class AnswerPool:
    """Bounded threads for answer work, apart from Bolt's listener threads (which only ack).

    Slow answers (an LLM at 8 s a call) used to hold the threads that acknowledge slash
    commands, so Slack's 3 s passed. Now a listener acks, submits here and returns. At most
    `workers` answers run and `queue` wait; a queued asker is told "busy" at once, and one
    beyond the queue is told to retry, never left without a word."""

    name = "slack-answers"

    def __init__(self, workers: int, queue: int):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="triops-answer")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._closing = threading.Event()

    def submit(self, work: Callable[[], None], on_busy: Callable[[], None]) -> bool:
        """Run `work` on an answer thread; False (nothing runs) if the queue is full."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._lock:
            queued = self._in_flight >= self.workers
            self._in_flight += 1
        if queued:
            _quietly(on_busy, "busy notice")

        def run() -> None:
            try:
                if self._closing.is_set():
                    log.warning("answer dropped at shutdown (it was still queued)")
                    return
                work()
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._idle.notify_all()
                self._slots.release()

        self._pool.submit(run)
        return True

    def depth(self) -> int:
        """Answers waiting for a thread (/metrics)."""
        with self._lock:
            return max(0, self._in_flight - self.workers)

    def start(self) -> None:
        """Threads start on demand."""

    def stop(self, deadline: float) -> None:
        """Answers in progress finish (their askers get them) until `deadline`; queued
        ones are dropped, each logged."""
        self._closing.set()
        with self._lock:
            while self._in_flight and time.monotonic() < deadline:
                self._idle.wait(max(0.0, min(0.5, deadline - time.monotonic())))
            left = self._in_flight
        self._pool.shutdown(wait=False, cancel_futures=True)
        if left:
            log.warning("%d answers still running at the shutdown deadline", left)


_POOLS: weakref.WeakKeyDictionary[App, AnswerPool] = weakref.WeakKeyDictionary()


def answer_pool(app: App) -> AnswerPool:
    """The answer pool `build_app` gave this app: extensions' listeners (DMs, thread
    follow-ups) answer there too, never on Bolt's ack threads."""
    return _POOLS[app]


def submit_answer(answers: AnswerPool, work: Callable[[], None], body: dict, context: BoltContext,
                  tell: Callable[[str], None], what: str) -> None:
    """Answer off the ack threads: `work` on the pool (its failures reported like app.error
    does); the asker hears "busy" if it waits, or "ask again" if the queue is full."""
    def notice(text: str) -> Callable[[], None]:
        return lambda: tell(text)

    if not answers.submit(_guarded(work, body, context), on_busy=notice(BUSY)):
        log.warning("answer queue full: %s turned away", what)
        _quietly(notice(OVERLOADED), "overload notice")


def _quietly(fn: Callable[[], None], what: str) -> None:
    try:
        fn()
    except Exception as exc:  # Slack down: the answer itself still comes (or is logged)
        log.warning("could not post the %s: %s", what, type(exc).__name__)


def web_client(settings: Any, token: str | None = None) -> WebClient:
    client = WebClient(token=token, base_url=settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def build_app(
    router: Router,
    *,
    authorize: Callable[..., AuthorizeResult] | None = None,
    extensions: list[Extension] | None = None,
    answers: AnswerPool | None = None,
) -> App:
    """The Bolt app. Its listener threads (TRIOPS_ACK_WORKERS) only verify and acknowledge;
    answers run on `answers` (built from the settings if not given)."""
    settings = router.runtime.settings
    answers = answers or AnswerPool(settings.answer_workers, settings.answer_queue)
    if settings.slack_signing_secret is None:
        raise RuntimeError("SLACK_SIGNING_SECRET is not set")
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    kwargs: dict[str, Any] = {
        "signing_secret": settings.slack_signing_secret.get_secret_value(),
        "client": web_client(settings, token if authorize is None else None),
        "process_before_response": False,
        "listener_executor": ThreadPoolExecutor(max_workers=settings.ack_workers, thread_name_prefix="triops-ack"),
    }
    if authorize is not None:
        kwargs["authorize"] = authorize
    else:
        kwargs["token"] = token
        kwargs["token_verification_enabled"] = False
    app = App(**kwargs)
    from bot.observability import instrument_bolt

    instrument_bolt(app, router.runtime.metrics)  # /metrics: Slack requests, acks, ack latency
    _POOLS[app] = answers
    register_middleware(app, router)
    register_listeners(app, router, answers)
    for ext in extensions or []:
        ext(app, router)
    return app


def post_reply(client: WebClient, channel: str, reply: Reply, thread_ts: str | None = None) -> dict:
    resp = client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=to_text(reply)[:3000], blocks=to_blocks(reply)
    )
    return resp.data if isinstance(resp.data, dict) else {}


def attach_images(client: WebClient, channel: str, reply: Reply, thread_ts: str | None = None) -> None:
    """Charts go up as files (files_upload_v2, scope files:write); a failed upload only logs."""
    from bot.render.charts import images

    for filename, png in images(reply):
        try:
            client.files_upload_v2(channel=channel, file=png, filename=filename, title=filename.removesuffix(".png"), thread_ts=thread_ts)
        except Exception as exc:  # a chart is a nicety: never lose the answer over it
            log.warning("chart upload %s to %s failed: %s", filename, channel, exc.__class__.__name__)


def register_middleware(app: App, router: Router) -> None:
    """Global middleware and the one error handler (see the module's docstring)."""
    store = router.runtime.store

    @app.middleware
    def skip_bots_and_edits(body: dict, context: BoltContext, next_: Callable[[], None]) -> BoltResponse | None:
        event = body.get("event")
        if isinstance(event, dict) and event.get("type") in ("message", "app_mention") and _from_a_bot(event, context):
            return BoltResponse(status=200, body="")  # acknowledged: Slack must not retry it
        next_()
        return None

    @app.middleware
    def skip_retries(body: dict, next_: Callable[[], None]) -> BoltResponse | None:
        if body.get("type") == "event_callback" and not first_time_seen(store, body.get("event_id")):
            log.info("event %s already handled (a Slack retry): skipped", body.get("event_id"))
            return BoltResponse(status=200, body="")
        next_()
        return None

    @app.error
    def on_error(error: Exception, body: dict, context: BoltContext) -> None:
        report_failure(error, body, context)


def report_failure(error: BaseException, body: dict, context: BoltContext) -> None:
    """Log with a reference and tell the person in one line (never the error itself)."""
    ref = uuid.uuid4().hex[:8]
    if store_down(error):  # degraded, not a bug: say so, without a traceback
        log.error("slack listener: store unavailable (ref %s) on %s: %s", ref, _what(body), _cause(error))
        text = STORE_GAVE_UP.format(ref=ref)
    else:
        log.error("slack listener failed (ref %s) on %s", ref, _what(body), exc_info=error)
        text = APOLOGY.format(ref=ref)
    try:
        _apologise(body, context, text)
    except Exception as exc:  # Slack is down too: the failure itself is logged above
        log.warning("could not tell the user about ref %s: %s", ref, exc.__class__.__name__)


def _what(body: Any) -> str:
    """What the failed request was, for the log; any shape of body (it is the sender's)."""
    if not isinstance(body, dict):
        return "request"
    if body.get("command"):
        return f"command {body.get('command')} {str(body.get('text') or '')[:80]!r}"
    if isinstance(body.get("event"), dict):
        return f"event {body['event'].get('type')} {body.get('event_id')}"
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    return f"{body.get('type') or 'request'} {first.get('action_id') or ''}".strip()


def _apologise(body: dict, context: BoltContext, text: str) -> None:
    """To the asker only where Slack allows (a command's or a button's response_url), else in
    the event's thread; never the error itself."""
    respond = context.respond
    if context.response_url and respond is not None:  # a Respond exists always; it needs the URL
        respond(text=text, response_type="ephemeral", replace_original=False)
        return
    event = body.get("event")
    if isinstance(event, dict) and event.get("channel") and context.client is not None:
        thread_ts = event.get("thread_ts") or event.get("ts")
        context.client.chat_postMessage(channel=event["channel"], thread_ts=thread_ts, text=text)


def register_listeners(app: App, router: Router, answers: AnswerPool) -> None:
    settings = router.runtime.settings
    store = router.runtime.store

    @app.command(settings.slack_command)
    def on_command(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
        ack()  # Slack's 3 seconds: acknowledged now, answered through the response_url
        text = body.get("text") or ""
        asker = Asker(user=body.get("user_id", "?"), surface="slack", channel=body.get("channel_id"))

        def answer() -> Reply:
            audit.record(store, asker.user, "command", text[:200], channel=asker.channel)
            return router.handle(text, asker)

        def say_retrying() -> None:
            respond(text=STORE_DOWN, response_type="ephemeral", replace_original=False)

        def work() -> None:
            reply = with_store_retry(answer, settings.store_retry_seconds, say_retrying)
            respond(
                text=to_text(reply)[:3000],
                blocks=to_blocks(reply),
                response_type="ephemeral" if reply.ephemeral else "in_channel",
                replace_original=False,
            )
            if not reply.ephemeral and asker.channel:
                attach_images(client, asker.channel, reply)

        def tell(text: str) -> None:
            respond(text=text, response_type="ephemeral", replace_original=False)

        submit_answer(answers, work, body, context, tell, f"command from {asker.user}")

    @app.event("app_mention")
    def on_mention(event: dict, body: dict, client: WebClient, context: BoltContext) -> None:
        text = MENTION_RE.sub("", event.get("text", "")).strip()
        thread_ts = event.get("thread_ts") or event.get("ts")
        asker = Asker(user=event.get("user", "?"), surface="slack", channel=event.get("channel"), thread_ts=thread_ts)

        def work() -> None:
            # status first for free text, then the answer
            from bot.agent.slack import answer_in_thread

            audit.record(store, asker.user, "mention", text[:200], channel=asker.channel)
            reply = answer_in_thread(client, router, text, asker, event["channel"], thread_ts)
            attach_images(client, event["channel"], reply, thread_ts=thread_ts)

        def tell(text: str) -> None:
            client.chat_postMessage(channel=event["channel"], thread_ts=thread_ts, text=text)

        submit_answer(answers, work, body, context, tell, f"mention from {asker.user}")


def _guarded(work: Callable[[], None], body: dict, context: BoltContext) -> Callable[[], None]:
    """Answer work off Bolt's threads still reports failures like `app.error` does."""
    def run() -> None:
        try:
            work()
        except Exception as exc:
            report_failure(exc, body, context)
    return run


def _from_a_bot(event: dict, context: BoltContext) -> bool:
    return bool(
        event.get("bot_id")
        or event.get("subtype") in NOT_A_PERSON
        or (context.bot_user_id and event.get("user") == context.bot_user_id)
    )


def store_down(exc: BaseException) -> bool:
    """The database does not answer (as opposed to a bug): StoreUnavailable, or the
    driver's connection errors as SQLAlchemy raises them."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, StoreUnavailable | OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _cause(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"


def with_store_retry(work: Callable[[], Reply], budget: float, on_first_failure: Callable[[], None]) -> Reply:
    """`work()`, retried while the store is down for up to `budget` seconds (backing off);
    the person is told once, at the first failure, that we are retrying. Still down at the
    end: StoreUnavailable (app.error words it for the person)."""
    deadline = time.monotonic() + budget
    delay = min(0.5, budget / 4) if budget > 0 else 0.0
    told = False
    while True:
        try:
            return work()
        except Exception as exc:
            if not store_down(exc):
                raise
            log.warning("store unavailable (%s): retrying", _cause(exc))
            if not told:
                told = True
                try:
                    on_first_failure()
                except Exception as notify_exc:  # Slack down too: the retry goes on regardless
                    log.warning("could not say the store is down: %s", type(notify_exc).__name__)
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable("the store is unavailable") from exc
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
