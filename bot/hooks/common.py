"""What every webhook shares: optional token auth, JSON body reading, 4xx with a reason.

Rule for every hook: the event loop only awaits the body; decoding, validating and storing
run in a worker thread (`run_in_threadpool`), so a 200,000-row upload never stalls
`/healthz` or Slack's 3-second acknowledgements.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from tools.delivery.ingest import describe_validation_error
from tools.errors import PayloadError
from tools.timebounds import check_model_times

log = logging.getLogger("triops.hooks")
M = TypeVar("M", bound=BaseModel)


# Routes whose sender signs the body with its own secret: a valid-looking signature header
# there is checked by the route itself, so the shared token is not required as well.
SIGNED_ROUTES = {
    "/hooks/github": ("github_webhook_secret", "x-hub-signature-256"),
    "/hooks/pagerduty": ("pagerduty_webhook_secret", "x-pagerduty-signature"),
}
MAX_INT_DIGITS = 100  # a JSON integer longer than this is not a number any sender means


def check_token(request: Request) -> None:
    """If TRIOPS_WEBHOOK_TOKEN is set, require it as a bearer token or `X-Triops-Token`.

    Headers only: a token in the URL would be written to access logs and proxies' logs.
    A sender that signs its body (GitHub, PagerDuty with their secret set) needs no token."""
    settings = request.app.state.runtime.settings
    if "token" in request.query_params:
        log.warning("webhook %s rejected: token sent in the URL", request.url.path)
        raise HTTPException(status_code=401, detail={
            "error": "send the webhook token in a header (Authorization: Bearer, or X-Triops-Token), not the URL"})
    secret = settings.webhook_token
    if secret is None:
        return
    signed = SIGNED_ROUTES.get(request.url.path)
    if signed is not None and getattr(settings, signed[0]) is not None and request.headers.get(signed[1]):
        return  # the route verifies this signature before reading the body
    given = request.headers.get("x-triops-token") or ""
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        log.warning("webhook %s rejected: bad or missing token", request.url.path)
        raise HTTPException(status_code=401, detail={"error": "missing or wrong webhook token"})


async def read_json(request: Request) -> Any:
    """The decoded body, strictly (see `strict_json`); decoded off the loop."""
    raw = await request.body()
    depth = request.app.state.runtime.settings.max_json_depth
    try:
        body = await run_in_threadpool(strict_json, raw, depth)
    except PayloadError as exc:
        log.warning("webhook %s rejected: %s", request.url.path, exc.message)
        raise HTTPException(status_code=400, detail={"error": exc.message}) from exc
    if _WINDOW_PATH.match(request.url.path):
        try:
            check_window_columns(body)
        except PayloadError as exc:
            log.warning("webhook %s rejected: %s", request.url.path, exc.message)
            raise HTTPException(status_code=422, detail={"error": exc.message}) from exc
    return body


# A window of model inputs and its delayed labels: both go to the columnar store.
_WINDOW_PATH = re.compile(r"^/hooks/models/[^/]+/(windows|labels)/[^/]+$")


def check_window_columns(body: Any) -> None:
    """A window's (or its labels') column holds numbers or strings, not both (the columnar store
    cannot convert a mixed column: it was a 500). Booleans are their own kind (true next to 0.2
    was a 500 too), null is missing."""
    rows = body.get("rows") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return  # the route's own validation names the problem
    kinds: dict[str, str] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        for col, v in row.items():
            if v is None:
                continue
            if isinstance(v, int) and not isinstance(v, bool) and not -(2**63) <= v < 2**63:
                raise PayloadError(f"rows[{i}].{col}: {v} is out of the 64-bit integer range")
            kind = ("boolean" if isinstance(v, bool) else "number" if isinstance(v, int | float)
                    else "string" if isinstance(v, str) else "other")
            if kind == "other":
                raise PayloadError(f"rows[{i}].{col}: a window value must be a number or a string")
            seen = kinds.setdefault(col, kind)
            if seen != kind:
                raise PayloadError(f"rows[{i}].{col}: column {col!r} mixes {seen}s and {kind}s")


def strict_json(raw: bytes, max_depth: int = 100) -> Any:
    """RFC 8259 JSON that every store can hold, or PayloadError with the reason.

    Strict UTF-8, no NaN/Infinity (PostgreSQL's JSON has none, SQLite's would store them),
    integers of at most MAX_INT_DIGITS digits, nesting of at most `max_depth` levels, no
    lone surrogates and no NUL characters in strings (PostgreSQL text cannot hold them)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: not UTF-8 at byte {exc.start}") from None
    # checked before parsing (the C decoder would recurse); no deeper than its bracket count
    if raw.count(b"[") + raw.count(b"{") > max_depth and nesting(raw) > max_depth:
        raise PayloadError(f"body is not valid JSON: nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    _check_tree(value, max_depth)
    return value


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def nesting(raw: bytes) -> int:
    """The deepest bracket nesting outside strings, without parsing (vectorised: a hostile
    body is scanned in milliseconds and never reaches a recursive decoder)."""
    if raw.count(b"[") + raw.count(b"{") <= 1:
        return raw.count(b"[") + raw.count(b"{")
    import numpy as np

    bare = _JSON_STRING.sub(b"", raw)
    arr = np.frombuffer(bare, dtype=np.uint8)
    step = np.isin(arr, (0x5B, 0x7B)).astype(np.int32) - np.isin(arr, (0x5D, 0x7D)).astype(np.int32)
    return int(np.cumsum(step).max(initial=0))


def _no_constant(name: str) -> Any:
    raise PayloadError(f"body is not valid JSON: {name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise PayloadError(f"body is not valid JSON: an integer has more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _check_string(s: str) -> None:
    if "\x00" in s:
        raise PayloadError("body: NUL characters (\\u0000) are not accepted in strings")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("body is not valid JSON: a string holds a lone surrogate (\\ud800-\\udfff)") from None


def _check_tree(value: Any, max_depth: int) -> None:
    """Iterative walk (no recursion on hostile input): depth, keys and strings."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, str):
            _check_string(v)
        elif isinstance(v, dict | list):
            if d > max_depth:
                raise PayloadError(f"body is not valid JSON: nested deeper than {max_depth} levels")
            if isinstance(v, dict):
                for k, item in v.items():
                    _check_string(k)
                    stack.append((item, d + 1))
            else:
                stack.extend((item, d + 1) for item in v)


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
        check_finite(parsed)
    except PayloadError as exc:
        raise reject(request, exc, index) from exc


def check_finite(value: Any, path: str = "") -> None:
    """No NaN or infinity in a validated model ("NaN" as a string passes pydantic's float):
    PostgreSQL's JSON cannot hold them and SQLite's would, so both refuse them here."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"{path or 'value'}: {value!r} is not a finite number")
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            check_finite(getattr(value, name, None), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_finite(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite(v, f"{path}.{k}" if path else str(k))
