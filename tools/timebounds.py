"""Sane-time bounds for anything a sender gives us, checked before any arithmetic.

A timestamp at 9999-12-31 or year 1 is valid RFC 3339, but adding a window to it, or
formatting it after an offset, overflows `datetime` deep inside correlation. Every parsed
time is checked here first (±`TRIOPS_TIME_BOUND_YEARS` around now), so such input is a 422
that names the field instead of a 500 that poisons later requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from tools.errors import PayloadError

DEFAULT_YEARS = 10.0
_YEAR = timedelta(days=365.25)


def bounds(now: datetime | None = None, years: float = DEFAULT_YEARS) -> tuple[datetime, datetime]:
    """(earliest, latest) accepted time; clamped so computing it never overflows."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    span = _YEAR * years
    try:
        lo = now - span
    except OverflowError:
        lo = datetime.min.replace(tzinfo=UTC)
    try:
        hi = now + span
    except OverflowError:
        hi = datetime.max.replace(tzinfo=UTC)
    return lo, hi


def check_time(value: datetime | None, field: str, *, now: datetime | None = None,
               years: float = DEFAULT_YEARS) -> datetime | None:
    """`value` unchanged if within bounds (None passes), else PayloadError naming `field`."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    lo, hi = bounds(now, years)
    if not lo <= aware <= hi:
        raise PayloadError(
            f"{field}: time out of range: {value.isoformat()} "
            f"(accepted: {lo:%Y-%m-%d} to {hi:%Y-%m-%d}, TRIOPS_TIME_BOUND_YEARS={years:g})"
        )
    return value


def check_epoch(value: float | None, field: str, *, now: datetime | None = None,
                years: float = DEFAULT_YEARS) -> float | None:
    """The same bound for epoch seconds (no datetime is built from an out-of-range value)."""
    if value is None:
        return None
    lo, hi = bounds(now, years)
    if value != value or not lo.timestamp() <= value <= hi.timestamp():  # NaN fails too
        raise PayloadError(f"{field}: time out of range: {value!r}")
    return value


def check_model_times(model: BaseModel, *, prefix: str = "", now: datetime | None = None,
                      years: float = DEFAULT_YEARS) -> None:
    """Every datetime field of a validated model (nested models and lists included)."""
    for name, value in _walk(model, prefix):
        check_time(value, name, now=now, years=years)


def _walk(value: Any, path: str) -> Iterable[tuple[str, datetime]]:
    if isinstance(value, datetime):
        yield path or "time", value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name, None), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, datetime | BaseModel):
                yield from _walk(v, f"{path}.{k}" if path else str(k))


def checker(years: float, clock: Callable[[], datetime] | None = None) -> Callable[[BaseModel, str], None]:
    """A bound check with the settings' span and the runtime's clock fixed."""
    def run(model: BaseModel, prefix: str = "") -> None:
        check_model_times(model, prefix=prefix, now=clock() if clock else None, years=years)
    return run
