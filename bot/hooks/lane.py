"""A direct ASGI lane for the alert webhooks (`POST|PUT /hooks/<alert source>`).

Why: in an alert storm the server's per-request cost is what bounds the rate, and most of
what FastAPI/Starlette do per request (route matching over every route, the request/response
wrappers, exception, telemetry, body-limit and exit-stack middlewares) does nothing for these
routes, whose handler takes the raw request and answers JSON. The lane runs the same
`handle` as the routes, inside the same body limit and request metrics, and maps errors
through the app's own exception handlers, so the answers are the routes' answers, byte for
byte; every other request (and every other method) goes through FastAPI as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bot.hooks.sources import handle

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


class HookLane:
    """The ASGI app serving `routes` ((method, path) -> (source name, the route object the
    request metrics label it with)); errors go to `handlers` (the app's exception handlers)."""

    def __init__(self, routes: Mapping[tuple[str, str], tuple[str, Any]], handlers: Mapping[Any, Handler]):
        self.routes = dict(routes)
        self.handlers = handlers

    def matches(self, scope: Any) -> bool:
        return scope["type"] == "http" and (scope["method"], scope["path"]) in self.routes

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        name, route = self.routes[(scope["method"], scope["path"])]
        scope["route"] = route  # the request metrics label by route template, as for routed requests
        request = Request(scope, receive)
        response: Response
        try:
            response = await handle(request, name)
        except Exception as exc:  # the app's handler for it (4xx/503), else a 500 re-raised for the log
            handler = self._handler_for(exc)
            if handler is None:  # as ServerErrorMiddleware: a plain 500, the traceback to the log
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
                raise
            got = handler(request, exc) if inspect.iscoroutinefunction(handler) else \
                await run_in_threadpool(handler, request, exc)  # as Starlette runs a plain-def handler
            response = await got if inspect.isawaitable(got) else got
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:  # as Starlette's ExceptionMiddleware looks them up
            if cls in self.handlers:  # FastAPI registers HTTPException's (the {"detail": ...} answer)
                return self.handlers[cls]
        return None
