"""MLflow 3.x model-registry webhooks: `{entity, action, timestamp, data}`.

registered_model.created registers the model; model_version.created a version;
model_version_alias.created points an alias at a version (a move: a promotion when the
version is newer than the one it left, else a rollback, returned as a change event and
kept in the alias history); model_version_alias.deleted drops the alias. Tag events and
others are 202 "ignored". Identity: (name), (name, version), (name, alias).
Signature (when TRIOPS_MLFLOW_WEBHOOK_SECRET is set): `X-MLflow-Signature: v1,<base64
HMAC-SHA256 of "<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<raw body>">`, timestamp within
5 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from tools.delivery.sources.base import Changes, require
from tools.mlops.schemas import ModelIn, RegistryEvent

MAX_SKEW_SECONDS = 300
HANDLED = {"registered_model.created", "model_version.created", "model_version_alias.created",
           "model_version_alias.deleted"}


def is_mlflow(body: Any) -> bool:
    return isinstance(body, dict) and {"entity", "action", "data"} <= body.keys()


def sign(secret: str, delivery_id: str, timestamp: str, raw: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


class MlflowSource:
    name = "mlflow"
    signature_header: str | None = "X-MLflow-Signature"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        if not is_mlflow(body):
            raise ValueError("entity, action and data: missing (is this an MLflow webhook?)")
        event = f"{body['entity']}.{body['action']}"
        if event not in HANDLED:
            return Changes.skip(event)
        data = body["data"]
        name = str(require(data, "name", "data"))
        if event == "registered_model.created":
            return Changes(models=[ModelIn(name=name, description=data.get("description"), source="mlflow")])
        if event == "model_version_alias.deleted":  # MLflow sends {name, alias}
            return Changes(registry=[RegistryEvent.model_validate({
                "model": name, "alias": require(data, "alias", "data"), "version": data.get("version"),
                "at": body.get("timestamp"), "action": "delete"})])
        version = str(require(data, "version", "data"))
        if event == "model_version.created":
            return Changes(models=[ModelIn.model_validate({
                "name": name, "source": "mlflow",
                "versions": [{"version": version, "run_id": data.get("run_id"), "source": data.get("source"),
                              "description": data.get("description"), "registered_at": body.get("timestamp")}],
            })])
        alias = str(require(data, "alias", "data"))
        return Changes(registry=[RegistryEvent.model_validate({
            "model": name, "alias": alias, "version": version, "at": body.get("timestamp"),
            "action": "set"})])

    def secret(self, settings: Any) -> str | None:
        s = getattr(settings, "mlflow_webhook_secret", None)
        return s.get_secret_value() if s is not None else None

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        given, delivery, ts = (headers.get(h, "") for h in ("x-mlflow-signature", "x-mlflow-delivery-id", "x-mlflow-timestamp"))
        if not (given and delivery and ts.isdigit()) or abs(time.time() - int(ts)) > MAX_SKEW_SECONDS:
            return False
        return hmac.compare_digest(given.strip(), sign(secret, delivery, ts, raw))


SOURCE = MlflowSource()
