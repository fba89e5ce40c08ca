"""What every webhook shares: optional token auth, JSON body reading, 4xx with a reason.

Rule for every hook: the event loop only awaits the body; decoding, validating and storing
run in a worker thread (`run_in_threadpool`), so a 200,000-row upload never stalls
`/healthz` or Slack's 3-second acknowledgements.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from tools.delivery.ingest import describe_validation_error
from tools.errors import PayloadError
from tools.timebounds import check_model_times

log = logging.getLogger("triops.hooks")
M = TypeVar("M", bound=BaseModel)


def check_token(request: Request) -> None:
    """If TRIOPS_WEBHOOK_TOKEN is set, require it as a bearer token or `X-Triops-Token`."""
    secret = request.app.state.runtime.settings.webhook_token
    if secret is None:
        return
    given = request.headers.get("x-triops-token") or ""
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        log.warning("webhook %s rejected: bad or missing token", request.url.path)
        raise HTTPException(status_code=401, detail={"error": "missing or wrong webhook token"})


async def read_json(request: Request) -> Any:
    """The decoded body; decoded off the loop (a large body takes a while to parse)."""
    raw = await request.body()
    try:
        return await run_in_threadpool(json.loads, raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("webhook %s rejected: invalid JSON (%s)", request.url.path, exc)
        raise HTTPException(status_code=400, detail={"error": f"body is not valid JSON: {exc}"}) from exc


def reject(request: Request, exc: ValidationError | ValueError | KeyError, index: int | None = None) -> HTTPException:
    reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
    where = f"event {index}: " if index is not None else ""
    log.warning("webhook %s rejected: %s%s", request.url.path, where, reason)
    return HTTPException(status_code=422, detail={"error": f"{where}{reason}"})


def validate_all(request: Request, body: Any, model: type[M]) -> list[M]:
    """One object or a list: every item is validated before anything is stored, so a bad
    batch stores nothing and the 422 names the item and the field."""
    items = body if isinstance(body, list) else [body]
    out: list[M] = []
    for i, item in enumerate(items):
        where = i if isinstance(body, list) else None
        if not isinstance(item, dict):
            raise reject(request, ValueError("not a JSON object"), where)
        try:
            parsed = model.model_validate(item)
        except ValidationError as exc:
            raise reject(request, exc, where) from exc
        check_times(request, parsed, where)
        out.append(parsed)
    return out


def check_times(request: Request, parsed: BaseModel, index: int | None = None) -> None:
    """Every time in the model within ±TRIOPS_TIME_BOUND_YEARS of now, before it is stored
    or used in arithmetic (a 422 naming the field otherwise)."""
    rt = request.app.state.runtime
    try:
        check_model_times(parsed, now=rt.ctx.clock(), years=rt.settings.time_bound_years)
    except PayloadError as exc:
        raise reject(request, exc, index) from exc
