"""Golden signals and exhaustion forecasts as Slack text, Block Kit and a console table."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.render.registry import Renderer
from tools.metrics.models import AnomalyMark, ExhaustionLine, ForecastReport, MetricsReport

_NAMES = {"errors": "error rate", "latency": "latency (p95)", "traffic": "traffic", "saturation": "saturation"}


def _num(v: float | None) -> str:
    if v is None:
        return "–"
    a = abs(v)
    return f"{v:.3g}" if a < 1000 else f"{v:,.0f}"


def mark_sentence(service: str, signal: str, m: AnomalyMark) -> str:
    """"error rate of payments rose 14× at 10:02 (3 min after deploy payments-1042)"."""
    name = _NAMES.get(signal, signal)
    if m.ratio is not None and m.ratio > 0:
        verb = "rose" if m.ratio >= 1 else "fell"
        size = f"{m.ratio:.3g}×" if m.ratio >= 1 else f"to {m.ratio:.2g}× its baseline"
        change = f"{verb} {size}"
    else:
        change = f"changed to {_num(m.value)}"
    tail = f" ({m.minutes_after_deploy:.0f} min after deploy {m.deploy})" if m.deploy else ""
    return f"{name} of {service} {change} at {m.at:%H:%M}{tail}"


def metrics_text(r: MetricsReport) -> str:
    lines = [f"*{r.service}* — golden signals over {r.window}"]
    for s in r.signals:
        label = _NAMES.get(s.signal, s.signal)
        if s.error:
            lines.append(f"• {label}: _{s.error}_")
            continue
        lines.append(f"• {label}: now {_num(s.last)} (median {_num(s.baseline)}), {s.points} points"
                     + ("" if s.anomalies else ", no anomaly"))
        lines += [f"   ⚠ {mark_sentence(r.service, s.signal, m)}" for m in s.anomalies]
    return "\n".join(lines)


def _hours(h: float | None, horizon: float, unit: str = "", digits: int = 0) -> str:
    """Hours as people say them: minutes under an hour, hours under three days, then days
    (`unit` forces one, so an interval's ends share the point's)."""
    if h is None:
        return f">{horizon / 24:.0f} d"
    unit = unit or ("min" if h < 1 else "h" if h < 72 else "d")
    if unit == "min":
        return f"{h * 60:.0f} min"
    if unit == "h":
        return f"{h:.{digits}f} h"
    return f"{h / 24:.{max(digits, 1)}f} d"


def _interval(line: ExhaustionLine, horizon: float) -> tuple[str, str]:
    """The point and "low–high" in the point's unit, with enough digits that a tight interval
    does not read "21 h–21 h" ("14–26 h", as people write it)."""
    h = line.hours or 0.0
    unit = "min" if h < 1 else "h" if h < 72 else "d"
    digits = 0
    if line.low_hours is not None and line.high_hours is not None and unit != "min":
        width = (line.high_hours - line.low_hours) / (24.0 if unit == "d" else 1.0)
        digits = 0 if width >= 1.9 else 1 if width >= 0.19 else 2
    point, low, high = (_hours(x, horizon, unit, digits) for x in (line.hours, line.low_hours, line.high_hours))
    if low.endswith(f" {unit}") and high.endswith(f" {unit}") and not high.startswith(">"):
        return point, f"{low.removesuffix(f' {unit}')}–{high}"
    return point, f"{low}–{high}"


def _where(line: ExhaustionLine) -> str:
    lab = line.labels
    parts = [lab[k] for k in ("mountpoint", "instance", "service") if k in lab]
    return " on ".join(parts) if parts else (", ".join(f"{k}={v}" for k, v in lab.items()) or "series")


def forecast_sentence(line: ExhaustionLine, horizon: float) -> str:
    if line.hours is None:
        return f"{_where(line)}: not full within {horizon / 24:.0f} d at the current trend ({line.current:.3g} now)"
    pattern = f"; {' and '.join(line.seasonal)} pattern accounted for" if line.seasonal else ""
    steps = f"; {line.steps} past level step(s) (a cleanup…) kept out of the trend" if line.steps else ""
    point, span = _interval(line, horizon)
    return f"{_where(line)} full in ~{point} (80 % interval {span}) at the current trend{pattern}{steps}"


def forecast_text(r: ForecastReport) -> str:
    head = f"*Forecast: {r.target}* (history {r.window})"
    return "\n".join([head] + [f"• {forecast_sentence(x, r.horizon_hours)}" for x in r.lines])


def _blocks(text: str) -> list[Block]:
    return [SectionBlock(text=MarkdownTextObject(text=text[:3000]))]


def _rich(text: str) -> Any:
    return text.replace("*", "").replace("_", "")


METRICS = Renderer(blocks=lambda r: _blocks(metrics_text(r)), text=metrics_text, rich=lambda r: _rich(metrics_text(r)))
FORECAST = Renderer(blocks=lambda r: _blocks(forecast_text(r)), text=forecast_text,
                    rich=lambda r: _rich(forecast_text(r)))
