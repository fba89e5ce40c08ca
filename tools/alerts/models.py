"""The one normalised `Alert` every source is parsed into, and the change events causes point at."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.timeutil import to_epoch, utc

Severity = Literal["critical", "error", "warning", "info"]
SEVERITY_RANK = {"critical": 3, "error": 2, "warning": 1, "info": 0}

_SEVERITY_ALIASES = {
    "critical": "critical", "crit": "critical", "page": "critical", "p1": "critical",
    "p2": "critical", "high": "critical", "fatal": "critical", "emergency": "critical",
    "disaster": "critical", "error": "error", "err": "error", "major": "error",
    "p3": "error", "warning": "warning", "warn": "warning", "minor": "warning",
    "medium": "warning", "low": "warning", "p4": "info", "p5": "info", "info": "info",
    "informational": "info", "none": "info", "ok": "info", "debug": "info",
}


def normalise_severity(value: object, default: Severity = "warning") -> Severity:
    """Sources spell severity many ways (P1, high, crit…); one four-level scale is kept."""
    if value is None:
        return default
    return _SEVERITY_ALIASES.get(str(value).strip().lower(), default)  # type: ignore[return-value]


class AlertLinks(BaseModel):
    generator: str | None = None
    runbook: str | None = None
    dashboard: str | None = None
    silence: str | None = None


class Alert(BaseModel):
    """One occurrence of an alert: `(source, fingerprint, starts_at)` identifies it.

    A retry or a repeated firing notification carries the same three and so updates the
    same row; a re-fire after a resolve starts a new occurrence.
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    fingerprint: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=300)
    service: str | None = None
    severity: Severity = "warning"
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    links: AlertLinks = Field(default_factory=AlertLinks)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)

    @property
    def id(self) -> str:
        return _occurrence_id(self.source, self.fingerprint, self.starts_at)

    @property
    def message(self) -> str:
        """The human text: summary, else description/message, else the name."""
        a = self.annotations
        return a.get("summary") or a.get("description") or a.get("message") or self.name

    @property
    def event_time(self) -> float:
        """When this notification happened: the end for a resolve, else the start."""
        if self.status == "resolved" and self.ends_at is not None:
            return to_epoch(self.ends_at) or 0.0
        return to_epoch(self.starts_at) or 0.0


def alert_id(source: str, fingerprint: str, starts_at: float) -> str:
    """A short stable id of one occurrence (the store's primary key, the CLI's output)."""
    key = f"{source}|{fingerprint}|{starts_at:.3f}".encode()
    return "a-" + hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]


@lru_cache(maxsize=1 << 16)
def _occurrence_id(source: str, fingerprint: str, starts_at: datetime) -> str:
    """`Alert.id`, remembered: the ingest path asks each alert's id a dozen times (grouping,
    storing, logging, placing, answering) and the hash was a few % of its CPU. Keyed by the
    fields it derives from, so a copy with another start is never given a stale id."""
    return alert_id(source, fingerprint, to_epoch(starts_at) or 0.0)


def label_fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's idea of identity: a hash of the sorted label set."""
    h = hashlib.sha256()
    for k in sorted(labels):
        h.update(k.encode())
        h.update(b"\xff")
        h.update(str(labels[k]).encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


class ChangeEvent(BaseModel):
    """Something that changed a service (a deployment, a drift alarm, a config push).

    Correlation is given these by providers and ranks them as suspect changes; it never
    fetches them itself, so a new kind of change needs only a new provider.
    """

    kind: str  # "deployment" | "model_drift" | ...
    id: str
    service: str
    at: datetime
    summary: str = ""
    status: str | None = None
    url: str | None = None

    @field_validator("at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return utc(v)
