"""Alert webhooks: `/hooks/alertmanager`, `/hooks/grafana` (POST or PUT, unified and legacy),
`/hooks/pagerduty`, `/hooks/opsgenie`, `/hooks/alerts` (generic JSON).

Each is the generic `/hooks/{source}` route (bot/hooks/sources.py) under its historical
name: the whole payload is parsed before anything is stored (a malformed one stores nothing
and gets a 4xx naming the field); a good one is stored, committed and correlated before the
2xx goes back, so an acknowledged alert is never lost. Retries update, never duplicate.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.hooks.sources import handle
from tools.alerts.sources.generic import GENERIC_DOC

router = APIRouter(prefix="/hooks")


@router.post("/alertmanager", status_code=202)
async def alertmanager(request: Request) -> JSONResponse:
    return await handle(request, "alertmanager")


@router.api_route("/grafana", methods=["POST", "PUT"], status_code=202)
async def grafana(request: Request) -> JSONResponse:
    return await handle(request, "grafana")


@router.post("/pagerduty", status_code=202)
async def pagerduty(request: Request) -> JSONResponse:
    return await handle(request, "pagerduty")


@router.post("/opsgenie", status_code=202)
async def opsgenie(request: Request) -> JSONResponse:
    return await handle(request, "opsgenie")


@router.post("/alerts", status_code=202, description=GENERIC_DOC)
async def generic(request: Request) -> JSONResponse:
    return await handle(request, "alerts")
