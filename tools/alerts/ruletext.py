"""Render Prometheus rule annotations (`{{ $labels.x }}`, `{{ $value | humanizePercentage }}`)."""

from __future__ import annotations

import re

_TPL = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def render(text: str, labels: dict[str, str], value: float) -> str:
    """Enough of Prometheus' template language for rule annotations; unknown parts go empty."""

    def one(m: re.Match) -> str:
        expr = m.group(1)
        if expr.startswith(("with ", "end", "if ", "else")):
            return ""
        if expr == ".":
            return labels.get("cluster", "")
        lab = re.search(r"\$labels\.(\w+)", expr)
        if lab:
            return labels.get(lab.group(1), lab.group(1))
        if "$value" in expr:
            if "humanizePercentage" in expr:
                return f"{value * 100:.1f}%"
            if "humanizeDuration" in expr:
                return f"{value:.0f}s"
            return f"{value:.2f}"
        return ""

    return _TPL.sub(one, text)
