"""Read alerts from a file: JSON lines (generic alerts or whole webhook payloads) or one JSON
document. A bad line is reported with its number and the rest still load. Each payload's
sender is recognised by the same source registry the webhooks use (tools.alerts.sources)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from tools.alerts.models import Alert
from tools.alerts.sources import detect_source
from tools.alerts.sources.base import Parsed
from tools.errors import PayloadError

if TYPE_CHECKING:
    from tools.alerts.pipeline import AlertPipeline, IngestResult


class LineError(BaseModel):
    line: int
    error: str


class AlertFile(BaseModel):
    alerts: list[Alert] = Field(default_factory=list)
    errors: list[LineError] = Field(default_factory=list)
    ignored: list[LineError] = Field(default_factory=list)  # notes, unknown event types: not alerts
    batches: list[Any] = Field(default_factory=list, exclude=True)  # one `Parsed` per payload, in order


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
        parsed = detect_source(item).parse(item, {}, lambda: datetime.now(tz=UTC))
    except PayloadError as exc:
        out.errors.append(LineError(line=line, error=str(exc)))
        return
    if parsed.ignored and not parsed.alerts:
        out.ignored.append(LineError(line=line, error=f"ignored: {parsed.ignored}"))
    out.alerts.extend(parsed.alerts)
    out.batches.append(parsed)


@dataclass
class FileIngest:
    stored: int = 0
    incidents: list[str] = field(default_factory=list)
    opened: list[str] = field(default_factory=list)


def ingest_alert_file(pipeline: AlertPipeline, parsed: AlertFile, settings: Any = None) -> FileIngest:
    """Store a read file payload by payload, exactly as the webhooks do (lifecycle events of
    PagerDuty/Opsgenie attach to the stored alert; a replayed file changes nothing)."""
    from tools.alerts.sources.ingest import ingest_parsed

    out = FileIngest()
    for batch in parsed.batches:
        result: IngestResult = ingest_parsed(pipeline, batch, settings)
        out.stored += result.stored
        out.incidents += [i for i in result.incidents if i not in out.incidents]
        out.opened += result.opened
    return out


__all__ = ["AlertFile", "FileIngest", "LineError", "Parsed", "ingest_alert_file", "read_alert_file"]
