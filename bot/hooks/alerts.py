"""Alert webhooks: `/hooks/alertmanager`, `/hooks/grafana`, `/hooks/pagerduty`,
`/hooks/opsgenie`, `/hooks/alerts` (generic JSON).

The whole payload is parsed before anything is stored (a malformed one stores nothing and
gets a 4xx naming the field); a good one is stored, committed and correlated before the
2xx goes back, so an acknowledged alert is never lost. Retries update, never duplicate.
Parsing and correlating run in a worker thread (see bot/hooks/common.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from bot.alerts_runtime import get_pipeline
from bot.hooks.common import check_token, log, read_json
from tools.alerts.models import Alert
from tools.alerts.parsers import (
    GENERIC_DOC,
    PayloadError,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
    parse_opsgenie,
    parse_pagerduty,
    verify_pagerduty_signature,
)
from tools.delivery.ingest import describe_validation_error

router = APIRouter(prefix="/hooks", dependencies=[Depends(check_token)])


async def _accept(request: Request, body: Any, parser: Callable[[Any], list[Alert]]) -> dict:
    rt = request.app.state.runtime
    return await run_in_threadpool(_parse_and_ingest, request, rt, body, parser)


def _parse_and_ingest(request: Request, rt: Any, body: Any, parser: Callable[[Any], list[Alert]]) -> dict:
    """In a worker thread: parsing a big batch and correlating it must not hold the loop."""
    try:
        alerts = parser(body)
    except (PayloadError, ValidationError) as exc:  # a field of the wrong type is bad input too
        reason = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        log.warning("webhook %s rejected: %s", request.url.path, reason)
        raise HTTPException(status_code=422, detail={"error": reason}) from exc
    result = get_pipeline(rt).ingest(alerts) if alerts else None
    return {
        "stored": len(alerts),
        "alert_ids": [a.id for a in alerts],
        "incidents": result.incidents if result else [],
    }


@router.post("/alertmanager", status_code=202)
async def alertmanager(request: Request) -> dict:
    return await _accept(request, await read_json(request), parse_alertmanager)


@router.post("/grafana", status_code=202)
async def grafana(request: Request) -> dict:
    return await _accept(request, await read_json(request), parse_grafana)


@router.post("/pagerduty", status_code=202)
async def pagerduty(request: Request) -> dict:
    raw = await request.body()
    secret = request.app.state.runtime.settings.pagerduty_webhook_secret
    if secret is not None and not verify_pagerduty_signature(
        secret.get_secret_value(), raw, request.headers.get("x-pagerduty-signature")
    ):
        log.warning("pagerduty webhook rejected: bad or missing X-PagerDuty-Signature")
        raise HTTPException(status_code=401, detail={"error": "bad or missing X-PagerDuty-Signature"})
    return await _accept(request, await read_json(request), parse_pagerduty)


@router.post("/opsgenie", status_code=202)
async def opsgenie(request: Request) -> dict:
    return await _accept(request, await read_json(request), parse_opsgenie)


@router.post("/alerts", status_code=202, description=GENERIC_DOC)
async def generic(request: Request) -> dict:
    rt = request.app.state.runtime
    return await _accept(request, await read_json(request), lambda body: parse_generic(body, now=rt.ctx.clock))
