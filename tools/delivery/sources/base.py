"""The `ChangeSource` protocol: a sender of changes (deployments, model promotions, DORA
incidents). Parse is pure: body (+ headers and query) -> `Changes`; storing is the route's job.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.alerts.models import ChangeEvent
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.mlops.schemas import ModelIn, RegistryEvent


@dataclass
class Changes:
    deployments: list[DeploymentEvent] = field(default_factory=list)
    incidents: list[IncidentEvent] = field(default_factory=list)
    models: list[ModelIn] = field(default_factory=list)
    registry: list[RegistryEvent] = field(default_factory=list)  # alias moves and deletes
    events: list[ChangeEvent] = field(default_factory=list)  # model promotions/rollbacks, ...
    ignored: str | None = None
    timeless: bool = False  # the sender sent no time: finished_at is the receive time


    @classmethod
    def skip(cls, reason: str) -> Changes:
        return cls(ignored=reason)


class ChangeSource(Protocol):
    name: str
    signature_header: str | None

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes: ...

    def secret(self, settings: Any) -> str | None: ...

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool: ...


class NoSignature:
    signature_header: str | None = None

    def secret(self, settings: Any) -> str | None:
        return None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        return False


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def require(obj: Any, key: str, where: str) -> Any:
    """obj[key], or ValueError naming the field (the route turns it into a 422)."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: not a JSON object")
    value = obj.get(key)
    if value is None or value == "":
        raise ValueError(f"{where}.{key}: missing" if where else f"{key}: missing")
    return value
