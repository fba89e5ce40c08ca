"""Small PNG charts for replies where people would rather look than read.

A chart function takes a tool output and returns PNG bytes (or None); `images(reply)`
collects them for the surface to attach (Slack: files_upload_v2; CLI/demo: a file).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from tools.drift.models import P_VALUE_METHODS, DriftReport

ChartFunc = Callable[[Any], "tuple[str, bytes] | None"]
_CHARTS: dict[type[BaseModel], ChartFunc] = {}
# pyplot's global figure manager is not thread-safe (parallel replies gave tracebacks): charts
# are drawn on their own Figure with an Agg canvas, no pyplot, and one at a time (matplotlib's
# font and text caches are shared too).
_DRAW = threading.Lock()


def register_chart(model: type[BaseModel], func: ChartFunc) -> None:
    _CHARTS[model] = func


def images(reply: Any) -> list[tuple[str, bytes]]:
    """(filename, PNG bytes) for every result in a Reply that has a chart."""
    out = []
    for call in getattr(reply, "results", []):
        if call.output is None:
            continue
        for cls in type(call.output).__mro__:
            if cls in _CHARTS:
                chart = _CHARTS[cls](call.output)
                if chart:
                    out.append(chart)
                break
    return out


def drift_chart_png(report: DriftReport, title: str, top: int = 12) -> bytes:
    """Each feature's distance to its threshold (1.0 = threshold), worst on top, drifted in red.

    Scores are put on one scale: distance / threshold, or −log10(p) / −log10(α) for p-values.
    """
    import math

    feats = report.features[:top]
    if report.prediction is not None:
        feats = [report.prediction, *feats][:top]
    labels, values, colours, scores = [], [], [], []
    for f in reversed(feats):
        if f.method in P_VALUE_METHODS:
            v = (-math.log10(max(f.score, 1e-300))) / (-math.log10(f.threshold))
        else:
            v = f.score / f.threshold
        labels.append(("▶ " if report.prediction is f else "") + f"{f.column} ({f.method})")
        values.append(min(max(v, 0.01), 1000.0))
        colours.append("#d62728" if f.drifted else "#7f7f7f")
        scores.append(f"{f.score:.2g}" if f.method in P_VALUE_METHODS else f"{f.score:.3g}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with _DRAW:
        fig = Figure(figsize=(6.4, 0.32 * len(feats) + 1.2), dpi=110)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        return _draw_bars(fig, ax, labels, values, colours, scores, title)


def _draw_bars(fig: Any, ax: Any, labels: list[str], values: list[float], colours: list[str],
               scores: list[str], title: str) -> bytes:
    import textwrap

    bars = ax.barh(labels, values, color=colours)
    ax.set_xscale("log")
    ax.set_xlim(0.01, max(10.0, max(values) * 3))
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    for bar, text in zip(bars, scores, strict=True):
        ax.text(bar.get_width() * 1.1, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=7)
    ax.set_xlabel("score ÷ threshold, log scale (dashed = threshold; red = drifted)", fontsize=8)
    ax.set_title(textwrap.fill(title, 70), fontsize=9, loc="left")
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
