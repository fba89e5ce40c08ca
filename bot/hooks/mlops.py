"""`POST /hooks/models` (registry events, MLflow webhooks), `POST|PUT /hooks/{source}` (every
registered alert and change source: bot/hooks/sources.py) and `POST /hooks/models/{name}/windows/{label}`
(a window of logged model inputs, for drift) `POST /hooks/models/{name}/labels/{label}` (its delayed labels) and
`POST /hooks/models/{name}/retrains/{run_id}` (a retraining pipeline's callback). Every event is validated before any is stored.

A window may hold 200,000 rows: validating it, building the frame and writing the parquet
blob take seconds, so all of it runs in a worker thread (see bot/hooks/common.py).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bot.hooks import sources
from bot.hooks.common import check_token, log, read_json, reject
from tools.actions.base import signed_ok
from tools.errors import PayloadError, ToolError
from tools.mlops.ingest import store_labels, store_window, update_retrain
from tools.timebounds import check_time
from tools.timeutil import now_utc, to_epoch

router = APIRouter(prefix="/hooks")
MAX_WINDOW_ROWS = 200_000


class WindowIn(BaseModel):
    rows: list[dict] = Field(min_length=1, max_length=MAX_WINDOW_ROWS)
    start: str | None = None
    end: str | None = None


@router.post("/models", status_code=202)
async def post_models(request: Request) -> JSONResponse:
    """triops's model JSON, or MLflow 3.x registry webhooks (X-MLflow-Signature checked
    when TRIOPS_MLFLOW_SECRET is set)."""
    return await sources.handle(request, "models")


@router.post("/models/{name}/windows/{label}", status_code=202, dependencies=[Depends(check_token)])
async def post_window(name: str, label: str, request: Request) -> dict:
    body = await read_json(request)
    store = request.app.state.runtime.store
    return await run_in_threadpool(_save_window, request, store, name, label[:64], body)


def _window(request: Request, body: Any) -> WindowIn:
    """Rows (a bare list, or {rows, start?, end?}) validated, or a 4xx naming what is wrong."""
    try:
        return WindowIn.model_validate({"rows": body} if isinstance(body, list) else body)
    except ValidationError as exc:
        raise reject(request, exc) from exc


def _save_window(request: Request, store: Any, name: str, label: str, body: Any) -> dict:
    import pandas as pd

    window = _window(request, body)
    frame = pd.DataFrame.from_records(window.rows)
    try:
        start = to_epoch(pd.Timestamp(window.start).to_pydatetime()) if window.start else None
        end = to_epoch(pd.Timestamp(window.end).to_pydatetime()) if window.end else None
    except ValueError as exc:
        raise reject(request, exc) from exc
    try:
        stored = store_window(store, name, label, frame, start=start, end=end)
    except ToolError as exc:
        raise reject(request, ValueError(" ".join(filter(None, [exc.message, exc.hint])))) from exc
    return {"stored": stored, "source": f"store:{name}/{label}"}


@router.post("/models/{name}/labels/{label}", status_code=202, dependencies=[Depends(check_token)])
async def post_labels(name: str, label: str, request: Request) -> dict:
    """Delayed labels for a stored window: rows of {label, id?} (joined by id, else by position)."""
    body = await read_json(request)
    store = request.app.state.runtime.store
    return await run_in_threadpool(_save_labels, request, store, name, label[:64], body)


def _save_labels(request: Request, store: Any, name: str, label: str, body: Any) -> dict:
    import pandas as pd

    window = _window(request, body)
    try:
        stored = store_labels(store, name, label, pd.DataFrame.from_records(window.rows))
    except ToolError as exc:
        raise reject(request, ValueError(" ".join(filter(None, [exc.message, exc.hint])))) from exc
    return {"labels": stored, "source": f"store:{name}/{label}"}


class RetrainCallback(BaseModel):
    """What a retraining pipeline reports: started, then succeeded (with the new version) or failed."""

    status: Literal["started", "succeeded", "failed"]
    new_version: str | None = Field(None, min_length=1, max_length=64)
    detail: str | None = Field(None, max_length=1000)
    external_ref: str | None = Field(None, max_length=300)
    at: datetime | None = None


@router.post("/models/{name}/retrains/{run_id}", status_code=202)
async def post_retrain(name: str, run_id: str, request: Request) -> dict:
    """A retraining pipeline's callback (tools/actions/retrain.py); a run moves forward only.

    It decides whether an approved retrain_model worked, so with TRIOPS_RETRAIN_WEBHOOK_SECRET
    set it must be signed like the retrain webhook (X-Triops-Timestamp within 5 minutes,
    X-Triops-Signature over timestamp.body); a signed callback needs no shared token."""
    rt = request.app.state.runtime
    secret = rt.settings.retrain_webhook_secret
    if secret is None:
        check_token(request)
    elif not signed_ok(secret.get_secret_value(), request.headers.get("x-triops-timestamp", ""),
                       request.headers.get("x-triops-signature", ""), await request.body(), now=time.time()):
        log.warning("webhook %s rejected: bad, stale or missing X-Triops-Signature", request.url.path)
        raise HTTPException(status_code=401, detail={"error": "bad, stale or missing X-Triops-Signature"})
    body = await read_json(request)
    try:
        cb = RetrainCallback.model_validate(body)
        check_time(cb.at, "at", now=rt.ctx.clock(), years=rt.settings.time_bound_years)
    except ValidationError as exc:
        raise reject(request, exc) from exc
    except PayloadError as exc:
        raise reject(request, ValueError(exc.message)) from exc
    at = to_epoch(cb.at or now_utc())
    assert at is not None
    run = await run_in_threadpool(update_retrain, request.app.state.runtime.store, name, run_id[:64], cb.status, at,
                                  cb.new_version, cb.detail, cb.external_ref)
    if run is None:
        raise HTTPException(status_code=404, detail={"error": f"No retraining run {run_id[:64]} of model {name}."})
    return {"run": run["id"], "status": run["status"], "new_version": run.get("new_version")}


# Last: the generic `/hooks/{source}` route must not shadow the named ones above.
router.include_router(sources.router)
