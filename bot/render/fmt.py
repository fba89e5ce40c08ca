"""Number formatting shared by every renderer, so Slack, console and text read the same."""

from __future__ import annotations

from datetime import datetime


def hours(h: float | None) -> str:
    if h is None:
        return "n/a"
    if h < 1:
        return f"{h * 60:.0f} min"
    if h < 48:
        return f"{h:.1f} h"
    return f"{h / 24:.1f} days"


def percent(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.1f} %"


def number(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


def when(dt: datetime | None) -> str:
    return "n/a" if dt is None else dt.strftime("%Y-%m-%d %H:%M UTC")


def day(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d")


def trend(cur: float | None, prev: float | None, *, higher_is_better: bool) -> str:
    """An arrow and a word people read at 3 a.m. without thinking about signs."""
    if cur is None or prev is None:
        return ""
    if abs(cur - prev) < 1e-9:
        return "→ same as before"
    up = cur > prev
    better = up == higher_is_better
    return f"{'↑' if up else '↓'} {'better' if better else 'worse'}"


LEVEL_EMOJI = {"elite": ":large_green_circle:", "high": ":large_blue_circle:", "medium": ":large_yellow_circle:", "low": ":red_circle:", None: ":white_circle:"}
