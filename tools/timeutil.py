"""Time windows and UTC normalisation shared by every tool.

Windows may be shorter than a day (`12h`): fine for counting events, but a rate per day or
per week taken from one would be extrapolated from less than its unit, so the DORA
frequency reports counts only below MIN_RATE_DAYS (`Window.sub_day`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from tools.errors import ToolError

WINDOW_FORMS = "a number and a unit: 12h, 7d, 2w, 30d, 3m (months of 30 days), 1y"
_WINDOW_RE = re.compile(r"^\s*(\d+)\s*(h|d|w|m|y)\s*$", re.IGNORECASE)
MIN_RATE_DAYS = 1.0  # the shortest window a per-day rate (or a level built on one) is taken from
_UNIT_SECONDS = {"h": 3600, "d": 86400, "w": 7 * 86400, "m": 30 * 86400, "y": 365 * 86400}


def parse_window(text: str) -> timedelta:
    """'30d' -> 30 days. Raises ToolError naming the accepted forms."""
    m = _WINDOW_RE.match(text or "")
    if not m or int(m.group(1)) == 0:
        raise ToolError(f"'{text}' is not a time window.", hint=f"Use {WINDOW_FORMS}.")
    n, unit = int(m.group(1)), m.group(2).lower()
    if n * _UNIT_SECONDS[unit] > 5 * 365 * 86400:
        raise ToolError(f"'{text}' is longer than five years.", hint=f"Use {WINDOW_FORMS}.")
    return timedelta(seconds=n * _UNIT_SECONDS[unit])


def looks_like_window(text: str) -> bool:
    return bool(_WINDOW_RE.match(text or ""))


def format_window(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days // 365}y" if days % 365 == 0 else f"{days}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds}s"


def utc(dt: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def to_epoch(dt: datetime | None) -> float | None:
    return None if dt is None else utc(dt).timestamp()


def from_epoch(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


class Window(BaseModel):
    """A half-open interval [start, end) in UTC."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, length: timedelta) -> Window:
        end = utc(end)
        return cls(start=end - length, end=end)

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        return self.length.total_seconds() / 86400

    @property
    def sub_day(self) -> bool:
        """Shorter than a day: events are counted, no per-day rate is derived from it."""
        return self.days < MIN_RATE_DAYS

    def previous(self) -> Window:
        return Window(start=self.start - self.length, end=self.start)
