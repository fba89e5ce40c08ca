"""Load delivery events from JSON lines, a JSON array, or CSV; a bad line never stops the rest."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from tools.delivery.models import DeploymentEvent, IncidentEvent

if TYPE_CHECKING:
    from tools.store import Store

E = TypeVar("E", bound=BaseModel)


class LineError(BaseModel):
    line: int
    error: str


class IngestReport(BaseModel):
    kind: str
    loaded: int
    errors: list[LineError]


def describe_validation_error(exc: ValidationError) -> str:
    """'finished_at: Input should be a valid datetime' — the field first, as people look for it."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "event"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def _csv_row(row: dict[str, str]) -> dict[str, Any]:
    """CSV cells are strings; `commits` is JSON or 'sha@time;sha@time'."""
    out: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items() if k}
    commits = out.get("commits")
    if isinstance(commits, str):
        if commits.strip().startswith("["):
            out["commits"] = json.loads(commits)
        else:
            items = []
            for part in filter(None, (p.strip() for p in commits.split(";"))):
                sha, _, at = part.partition("@")
                items.append({"sha": sha, "committed_at": at or None})
            out["commits"] = items
    elif commits is None:
        out.pop("commits", None)
    return out


def iter_records(text: str, suffix: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) pairs; a record that cannot be parsed comes back as its error text."""
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        for i, row in enumerate(reader, start=2):
            try:
                yield i, _csv_row(row)
            except (ValueError, json.JSONDecodeError) as exc:
                yield i, f"bad commits cell: {exc}"
        return
    stripped = text.strip()
    if stripped.startswith("{") and "\n{" not in stripped:  # one (pretty-printed) object
        try:
            yield 1, json.loads(stripped)
        except json.JSONDecodeError as exc:
            yield exc.lineno, f"invalid JSON: {exc.msg}"
        return
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            yield exc.lineno, f"invalid JSON: {exc.msg}"
            return
        for i, item in enumerate(items, start=1):
            yield i, item if isinstance(item, dict) else f"item {i} is not an object"
        return
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield i, f"invalid JSON: {exc.msg}"
            continue
        yield i, obj if isinstance(obj, dict) else "not a JSON object"


def parse_file(path: Path, model: type[E]) -> tuple[list[E], list[LineError]]:
    return parse_text(path.read_text(encoding="utf-8"), path.suffix.lower(), model)


def parse_text(text: str, suffix: str, model: type[E]) -> tuple[list[E], list[LineError]]:
    """Valid events and the numbered errors of the others; one bad record never stops the rest."""
    events: list[E] = []
    errors: list[LineError] = []
    for line, rec in iter_records(text, suffix):
        if isinstance(rec, str):
            errors.append(LineError(line=line, error=rec))
            continue
        try:
            events.append(model.model_validate(rec))
        except ValidationError as exc:
            errors.append(LineError(line=line, error=describe_validation_error(exc)))
    return events, errors


def ingest_file(store: Store, path: Path, kind: str) -> IngestReport:
    from tools.store.delivery import upsert_deployments, upsert_incidents

    model: type[BaseModel] = DeploymentEvent if kind == "deployments" else IncidentEvent
    events, errors = parse_file(path, model)
    with store.engine.begin() as conn:
        if kind == "deployments":
            upsert_deployments(conn, events)  # type: ignore[arg-type]
        else:
            upsert_incidents(conn, events)  # type: ignore[arg-type]
    return IngestReport(kind=kind, loaded=len(events), errors=errors)


def store_deployments(store: Store, events: Sequence[DeploymentEvent], *, timeless: bool = False) -> int:
    """Upsert validated deployments in one transaction (a retry updates, never duplicates).
    `timeless`: the sender sent no time and `finished_at` is the receive time, so a
    deployment already stored keeps its first time (a retry changes nothing).
    Blocking: an async caller runs it in a worker thread."""
    from sqlalchemy import select

    from tools.store.delivery import deployments, upsert_deployments
    from tools.timeutil import from_epoch

    with store.engine.begin() as conn:
        if timeless and events:
            known = dict(conn.execute(
                select(deployments.c.id, deployments.c.finished_at).where(deployments.c.id.in_([e.id for e in events]))
            ).tuples().all())
            events = [e.model_copy(update={"finished_at": from_epoch(known[e.id])}) if known.get(e.id) is not None else e
                      for e in events]
        upsert_deployments(conn, events)
    return len(events)


def store_incidents(store: Store, events: Sequence[IncidentEvent]) -> int:
    """Upsert validated incidents in one transaction; blocking, like `store_deployments`."""
    from tools.store.delivery import upsert_incidents

    with store.engine.begin() as conn:
        upsert_incidents(conn, events)
    return len(events)
