"""The `AlertSource` protocol: what one alert sender is, and the helpers every parser shares.

A source is one module: a pure `parse` (body -> `Parsed`), an optional signature check,
its identity rule (documented on the module), the settings it reads and its fixtures under
tests/fixtures/senders/<name>/. Keep's model: one provider per module, one fingerprint rule
per provider; a sender's own fingerprint is kept as is, never re-hashed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from tools.alerts.models import Alert
from tools.errors import PayloadError

# `job` is left out on purpose: for kube-state-metrics alerts it names the exporter, not the service.
SERVICE_LABELS = (
    "service", "service_name", "app_kubernetes_io_name", "app", "application",
    "deployment", "statefulset", "daemonset", "container",
)
_EPOCH_LIMIT_MS = 10**11  # larger epoch values are milliseconds
_EPOCH_LIMIT_US = 10**14  # ... microseconds
_MAX_YEAR = 2200  # a later epoch is a unit mistake, not a time
_EPOCH_LIMIT_NS = 10**17  # ... nanoseconds (Opsgenie's updatedAt: 19 digits, above 2**53)

# An annotation set when the source reports that someone acknowledged the alert there.
ACKED_BY = "acknowledged_by"


@dataclass
class Parsed:
    """What one notification means: alerts to store, or why it changes nothing.

    `anchored`: the sender's id alone names an alert across its lifecycle (PagerDuty
    incident id, Opsgenie alertId, Grafana legacy rule), so events attach to the stored
    occurrence instead of carrying their own start time. `opening[i]` says whether alert i
    may open a new occurrence (a trigger, a Create, a reopen) or only updates the stored
    one (an ack, a close: never a reopen). See `anchor.py`.
    """

    alerts: list[Alert] = field(default_factory=list)
    opening: list[bool] = field(default_factory=list)
    ignored: str | None = None
    anchored: bool = False  # the sender's id alone names the alert: attach to the stored occurrence

    @classmethod
    def of(cls, alerts: list[Alert], opening: bool = True, anchored: bool = False) -> Parsed:
        return cls(alerts=alerts, opening=[opening] * len(alerts), anchored=anchored)

    @classmethod
    def skip(cls, reason: str) -> Parsed:
        return cls(ignored=reason)


class AlertSource(Protocol):
    """One alert sender (see the module docstring)."""

    name: str
    signature_header: str | None

    def parse(self, body: Any, headers: Mapping[str, str], now: Callable[[], datetime]) -> Parsed: ...

    def secret(self, settings: Any) -> str | None:
        """The configured signing secret (None: this source is authenticated by the shared token)."""
        ...

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool: ...

    def detect(self, body: Any) -> bool:
        """Whether a decoded body looks like this sender's (for files that mix sources)."""
        ...


class NoSignature:
    """Mixin for senders that sign nothing (Alertmanager, Opsgenie, generic)."""

    signature_header: str | None = None

    def secret(self, settings: Any) -> str | None:
        return None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        return False


def parse_time(value: Any, field: str) -> datetime | None:
    """RFC 3339 (Go's nanoseconds and `Z` included) or epoch seconds/ms/µs/ns (ints exactly)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(f"{field}: not a time: {value!r}")
    if isinstance(value, int):
        mag = abs(value)
        if mag > _EPOCH_LIMIT_NS:
            value, div = value // 1000, 10**6  # ns -> µs in integers: no float rounding
        elif mag > _EPOCH_LIMIT_US:
            div = 10**6
        elif mag > _EPOCH_LIMIT_MS:
            div = 1000
        else:
            div = 1
        try:
            dt = datetime.fromtimestamp(0, tz=UTC) + _delta(value, div)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{field}: time out of range: {value!r}") from None
        if dt.year > _MAX_YEAR:
            raise PayloadError(f"{field}: time out of range: {value!r}")
        return dt
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"{field}: not a time: {value!r}")
        seconds = value / 1000 if abs(value) > _EPOCH_LIMIT_MS else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"{field}: time out of range: {value!r}") from None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return parse_time(int(text), field)
        if text.replace(".", "", 1).isdigit():
            return parse_time(float(text), field)
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            dt = _gitlab_time(text)
            if dt is None:
                raise PayloadError(f"{field}: not an RFC 3339 time: {value!r}") from None
        if dt.year <= 1:  # Go's zero time: Alertmanager's "not ended yet"
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    raise PayloadError(f"{field}: not a time: {value!r}")


def _delta(value: int, div: int) -> Any:
    from datetime import timedelta

    return timedelta(microseconds=value) if div == 10**6 else timedelta(seconds=value / div)


def _gitlab_time(text: str) -> datetime | None:
    """GitLab's `2021-04-28 21:50:00 +0200` and `2020-11-02 12:55:12 UTC`."""
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z"):
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def str_map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{field}: expected an object of strings")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in value.items()}


def service_from_labels(labels: dict[str, str]) -> str | None:
    for key in SERVICE_LABELS:
        if labels.get(key):
            return labels[key]
    return None


def build(**kw: Any) -> Alert:
    try:
        return Alert(**kw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "alert"
        raise PayloadError(f"{loc}: {err.get('msg')}") from None


def require_dict(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PayloadError(f"{what} payload must be a JSON object")
    return body
