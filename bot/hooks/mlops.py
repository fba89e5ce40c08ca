"""`POST /hooks/models` (registry events) and `POST /hooks/models/{name}/windows/{label}`
(a window of logged model inputs, for drift). Every event is validated before any is stored.

A window may hold 200,000 rows: validating it, building the frame and writing the parquet
blob take seconds, so all of it runs in a worker thread (see bot/hooks/common.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from bot.hooks.common import check_token, read_json, reject, validate_all
from tools.mlops.ingest import store_models, store_window
from tools.mlops.schemas import ModelIn
from tools.timeutil import to_epoch

router = APIRouter(prefix="/hooks", dependencies=[Depends(check_token)])
MAX_WINDOW_ROWS = 200_000


class WindowIn(BaseModel):
    rows: list[dict] = Field(min_length=1, max_length=MAX_WINDOW_ROWS)
    start: str | None = None
    end: str | None = None


@router.post("/models", status_code=202)
async def post_models(request: Request) -> dict:
    body = await read_json(request)
    store = request.app.state.runtime.store

    def work() -> dict:
        models = validate_all(request, body, ModelIn)
        return {"stored": store_models(store, models), "models": sorted({m.name for m in models})}

    return await run_in_threadpool(work)


@router.post("/models/{name}/windows/{label}", status_code=202)
async def post_window(name: str, label: str, request: Request) -> dict:
    body = await read_json(request)
    store = request.app.state.runtime.store
    return await run_in_threadpool(_save_window, request, store, name, label[:64], body)


def _save_window(request: Request, store: Any, name: str, label: str, body: Any) -> dict:
    import pandas as pd

    try:
        window = WindowIn.model_validate({"rows": body} if isinstance(body, list) else body)
    except ValidationError as exc:
        raise reject(request, exc) from exc
    frame = pd.DataFrame.from_records(window.rows)
    try:
        start = to_epoch(pd.Timestamp(window.start).to_pydatetime()) if window.start else None
        end = to_epoch(pd.Timestamp(window.end).to_pydatetime()) if window.end else None
    except ValueError as exc:
        raise reject(request, exc) from exc
    stored = store_window(store, name, label, frame, start=start, end=end)
    return {"stored": stored, "source": f"store:{name}/{label}"}
