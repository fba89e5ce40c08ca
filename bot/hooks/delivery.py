"""`POST /hooks/deployments`, `/hooks/incidents` (generic JSON) and `/hooks/github`.

A body is one event or a list of events; every event is validated before any is stored,
so a malformed batch stores nothing and the 422 names the event and field that failed.
Validation and the upsert run in a worker thread (see bot/hooks/common.py).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from bot.hooks.common import check_token, log, read_json, reject, validate_all
from tools.delivery.github import deployment_from_github
from tools.delivery.ingest import store_deployments, store_incidents
from tools.delivery.models import DeploymentEvent, IncidentEvent

router = APIRouter(prefix="/hooks", dependencies=[Depends(check_token)])


@router.post("/deployments", status_code=202)
async def post_deployments(request: Request) -> dict:
    body = await read_json(request)
    store = request.app.state.runtime.store

    def work() -> dict:
        events = validate_all(request, body, DeploymentEvent)
        store_deployments(store, events)
        return {"stored": len(events), "ids": [e.id for e in events]}

    return await run_in_threadpool(work)


@router.post("/incidents", status_code=202)
async def post_incidents(request: Request) -> dict:
    body = await read_json(request)
    store = request.app.state.runtime.store

    def work() -> dict:
        events = validate_all(request, body, IncidentEvent)
        store_incidents(store, events)
        return {"stored": len(events), "ids": [e.id for e in events]}

    return await run_in_threadpool(work)


@router.post("/github", status_code=202)
async def post_github(request: Request) -> dict:
    raw = await request.body()
    secret = request.app.state.runtime.settings.github_webhook_secret
    if secret is not None:
        expected = "sha256=" + hmac.new(secret.get_secret_value().encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-hub-signature-256", "")):
            log.warning("github webhook rejected: bad signature")
            raise HTTPException(status_code=401, detail={"error": "bad X-Hub-Signature-256"})
    event = request.headers.get("x-github-event", "")
    if event == "ping":
        return {"stored": 0, "ignored": "ping"}
    if event != "deployment_status":
        return {"stored": 0, "ignored": f"event {event or 'unknown'} is not deployment_status"}
    body = await read_json(request)
    store = request.app.state.runtime.store

    def work() -> dict[str, Any]:
        try:
            dep = deployment_from_github(body)
        except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = exc if isinstance(exc, ValidationError | ValueError) else ValueError(f"missing or malformed field {exc}")
            raise reject(request, reason) from exc
        if dep is None:
            return {"stored": 0, "ignored": "deployment not finished yet"}
        store_deployments(store, [dep])
        return {"stored": 1, "ids": [dep.id]}

    return await run_in_threadpool(work)
