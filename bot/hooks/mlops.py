"""`POST /hooks/models` (registry events) and `POST /hooks/models/{name}/windows/{label}`
(a window of logged model inputs, for drift). Every event is validated before any is stored.
"""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, ValidationError

from bot.hooks.common import check_token, read_json, reject, validate_all
from tools.mlops.schemas import ModelIn
from tools.store.models import save_window, upsert_models
from tools.timeutil import now_utc, to_epoch

router = APIRouter(prefix="/hooks", dependencies=[Depends(check_token)])
MAX_WINDOW_ROWS = 200_000


class WindowIn(BaseModel):
    rows: list[dict] = Field(min_length=1, max_length=MAX_WINDOW_ROWS)
    start: str | None = None
    end: str | None = None


@router.post("/models", status_code=202)
async def post_models(request: Request) -> dict:
    models = validate_all(request, await read_json(request), ModelIn)
    with request.app.state.runtime.store.engine.begin() as conn:
        written = upsert_models(conn, models, now_utc().timestamp())
    return {"stored": written, "models": sorted({m.name for m in models})}


@router.post("/models/{name}/windows/{label}", status_code=202)
async def post_window(name: str, label: str, request: Request) -> dict:
    body = await read_json(request)
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
    with request.app.state.runtime.store.engine.begin() as conn:
        save_window(conn, name, label[:64], frame, now_utc().timestamp(), start=start, end=end)
    return {"stored": len(frame), "source": f"store:{name}/{label[:64]}"}
