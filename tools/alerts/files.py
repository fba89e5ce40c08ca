"""Read alerts from a file: JSON lines (generic alerts or whole webhook payloads) or one JSON
document. A bad line is reported with its number and the rest still load."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field

from tools.alerts.models import Alert
from tools.alerts.parsers import PayloadError, parse_any


class LineError(BaseModel):
    line: int
    error: str


class AlertFile(BaseModel):
    alerts: list[Alert] = Field(default_factory=list)
    errors: list[LineError] = Field(default_factory=list)


def read_alert_file(path: Path) -> AlertFile:
    text = path.read_text(encoding="utf-8")
    out = AlertFile()
    stripped = text.lstrip()
    if stripped.startswith("[") or (stripped.startswith("{") and _single_document(stripped)):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            out.errors.append(LineError(line=exc.lineno, error=f"invalid JSON: {exc.msg}"))
            return out
        items = doc if isinstance(doc, list) else [doc]
        for i, item in enumerate(items, 1):
            _add(out, i, item)
        return out
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            out.errors.append(LineError(line=n, error=f"invalid JSON: {exc.msg}"))
            continue
        _add(out, n, item)
    return out


def _single_document(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def _add(out: AlertFile, line: int, item: object) -> None:
    try:
        out.alerts.extend(parse_any(item))
    except PayloadError as exc:
        out.errors.append(LineError(line=line, error=str(exc)))
