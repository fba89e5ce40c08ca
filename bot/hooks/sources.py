"""`POST|PUT /hooks/{source}`: one route over the registries of alert and change sources.

Every named route (/hooks/alertmanager, /hooks/github, /hooks/models, ...) calls `handle`
too, so a sender gets the same answer wherever it posts. Auth: a source that signs its
requests (GitHub, PagerDuty, MLflow, Grafana with a secret, GitLab's token) is checked
against its own secret and needs no shared TRIOPS_WEBHOOK_TOKEN; the others need the
token when one is set. Answers: 202 with what was stored, 202 `ignored: <type>` for
events that are not alerts/changes (logged, never stored), 4xx naming the field, never 5xx.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from bot.alerts_runtime import get_pipeline
from bot.hooks.common import check_finite, check_token, log, strict_json
from tools.alerts.sources import ALERT_SOURCES
from tools.delivery.ingest import describe_validation_error
from tools.delivery.sources import CHANGE_SOURCES
from tools.errors import PayloadError
from tools.timebounds import check_model_times

# Mounted under /hooks, after every named route, by bot/hooks/mlops.py (web.py includes the
# delivery, alerts and mlops routers in that order; a change there belongs to web.py's owner).
router = APIRouter()
T = TypeVar("T")


def _source(name: str) -> Any:
    src = ALERT_SOURCES.get(name) or CHANGE_SOURCES.get(name)
    if src is None:
        known = ", ".join(sorted({*ALERT_SOURCES, *CHANGE_SOURCES}))
        raise HTTPException(status_code=404, detail={"error": f"unknown source {name!r}; known: {known}"})
    return src


def authenticate(request: Request, src: Any, raw: bytes, headers: Mapping[str, str]) -> None:
    secret = src.secret(request.app.state.runtime.settings)
    signed = getattr(src, "signed", None)
    if secret is not None and (signed is None or signed(headers)):
        if not src.verify(secret, raw, headers):
            what = src.signature_header or "signature"
            log.warning("webhook %s rejected: bad or missing %s", request.url.path, what)
            raise HTTPException(status_code=401, detail={"error": f"bad or missing {what}"})
        return
    check_token(request)


def _reject(request: Request, reason: str) -> HTTPException:
    log.warning("webhook %s rejected: %s", request.url.path, reason)
    return HTTPException(status_code=422, detail={"error": reason})


# Decoding and storing run here, off the event loop. A plain executor, not anyio's
# to_thread (run_in_threadpool): its capacity limiter and cancel scopes cost the event loop
# more per webhook than the hop itself. Bounded like anyio's default pool (40 threads).
_HOOK_THREADS = ThreadPoolExecutor(max_workers=40, thread_name_prefix="triops-hook")


async def in_hook_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a hook worker thread, with the caller's context variables."""
    ctx = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(_HOOK_THREADS, ctx.run, fn, *args)


async def handle(request: Request, name: str) -> JSONResponse:
    src = _source(name)
    raw = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    authenticate(request, src, raw, headers)
    # one hop to a worker thread for decoding and storing (each hop costs as much as
    # decoding a 10-alert body)
    out = await in_hook_thread(_decode_and_store, request, name, src, raw, headers)
    if "ignored" in out:
        log.info("webhook %s ignored: %s", request.url.path, out["ignored"])
    return JSONResponse(out, status_code=202)


def _decode_and_store(request: Request, name: str, src: Any, raw: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    depth = request.app.state.runtime.settings.max_json_depth
    try:  # the same strict reader as every route: UTF-8, depth, number size, no NaN or NUL
        body = strict_json(raw, depth)
    except PayloadError as exc:
        log.warning("webhook %s rejected: %s", request.url.path, exc.message)
        raise HTTPException(status_code=400, detail={"error": exc.message}) from exc
    work = _alerts if name in ALERT_SOURCES else _changes
    return work(request, src, body, headers)


def _alerts(request: Request, src: Any, body: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    from tools.alerts.sources.ingest import ingest_parsed

    rt = request.app.state.runtime
    try:
        parsed = src.parse(body, headers, rt.ctx.clock)
    except (PayloadError, ValidationError) as exc:
        raise _reject(request, describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)) from exc
    if not parsed.alerts:
        return {"stored": 0, "alert_ids": [], "incidents": [], "ignored": parsed.ignored or "no alerts"}
    result = ingest_parsed(get_pipeline(rt), parsed, rt.settings)
    return {"stored": result.stored, "alert_ids": result.alert_ids, "incidents": result.incidents}


def _changes(request: Request, src: Any, body: Any, headers: Mapping[str, str]) -> dict[str, Any]:
    from tools.delivery.ingest import store_deployments, store_incidents
    from tools.mlops.ingest import apply_registry_events, store_models

    store = request.app.state.runtime.store
    query = dict(request.query_params)
    try:
        ch = src.parse(body, headers, query)
    except ValidationError as exc:
        raise _reject(request, describe_validation_error(exc)) from exc
    except (ValueError, PayloadError) as exc:
        raise _reject(request, str(exc)) from exc
    if ch.ignored:
        return {"stored": 0, "ignored": ch.ignored}
    rt = request.app.state.runtime
    try:  # every time within ±TRIOPS_TIME_BOUND_YEARS, every number finite, before storing
        for kind, events in (("deployments", ch.deployments), ("incidents", ch.incidents),
                             ("models", ch.models), ("registry", ch.registry)):
            for i, e in enumerate(events):
                if isinstance(e, BaseModel):
                    check_model_times(e, prefix=f"{kind}[{i}]", now=rt.ctx.clock(), years=rt.settings.time_bound_years)
                    check_finite(e, f"{kind}[{i}]")
    except PayloadError as exc:
        raise _reject(request, exc.message) from exc
    out: dict[str, Any] = {"stored": 0}
    if ch.deployments or ch.incidents:
        store_deployments(store, ch.deployments, timeless=ch.timeless)
        store_incidents(store, ch.incidents)
        out["stored"] += len(ch.deployments) + len(ch.incidents)
        out["ids"] = [e.id for e in [*ch.deployments, *ch.incidents]]
    if ch.models:
        out["stored"] += store_models(store, ch.models)
        out["models"] = sorted({m.name for m in ch.models})
    if ch.registry:
        changes = apply_registry_events(store, ch.registry)
        out["stored"] += len(changes)
        out["models"] = sorted({e.model for e in ch.registry})
        out["changes"] = [c.model_dump(mode="json") for c in changes]
    return out


@router.api_route("/{source}", methods=["POST", "PUT"], status_code=202)
async def any_source(source: str, request: Request) -> JSONResponse:
    return await handle(request, source)
