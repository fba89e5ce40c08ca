"""`POST /hooks/deployments`, `/hooks/incidents` (generic JSON) and `/hooks/github`.

Each is the generic `/hooks/{source}` route (bot/hooks/sources.py) under its name: a body
is one event or a list; every event is validated before any is stored, so a malformed batch
stores nothing and the 422 names the event and field that failed. GitLab, Argo CD and
CDEvents post to `/hooks/gitlab`, `/hooks/argocd`, `/hooks/cdevents` (the generic route).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from bot.hooks.sources import handle

router = APIRouter(prefix="/hooks")


@router.post("/deployments", status_code=202)
async def post_deployments(request: Request) -> JSONResponse:
    return await handle(request, "deployments")


@router.post("/incidents", status_code=202)
async def post_incidents(request: Request) -> JSONResponse:
    return await handle(request, "incidents")


@router.post("/github", status_code=202)
async def post_github(request: Request) -> JSONResponse:
    return await handle(request, "github")
