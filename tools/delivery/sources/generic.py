"""triops's own JSON shapes: `/hooks/deployments`, `/hooks/incidents`, `/hooks/models`.

One event or a list; every event is validated before any is stored (a 422 names the event
and the field). `/hooks/models` also takes MLflow registry webhooks (see mlflow.py), whose
signature is checked when TRIOPS_MLFLOW_WEBHOOK_SECRET is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tools.delivery.ingest import describe_validation_error
from tools.delivery.models import DeploymentEvent, IncidentEvent
from tools.delivery.sources.base import Changes, NoSignature
from tools.delivery.sources.mlflow import SOURCE as MLFLOW
from tools.delivery.sources.mlflow import is_mlflow
from tools.mlops.schemas import ModelIn

M = TypeVar("M", bound=BaseModel)


def validate_all(body: Any, model: type[M]) -> list[M]:
    items = body if isinstance(body, list) else [body]
    out: list[M] = []
    for i, item in enumerate(items):
        where = f"event {i}: " if isinstance(body, list) else ""
        if not isinstance(item, dict):
            raise ValueError(f"{where}not a JSON object")
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"{where}{describe_validation_error(exc)}") from None
    return out


class DeploymentsSource(NoSignature):
    name = "deployments"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        return Changes(deployments=validate_all(body, DeploymentEvent))


class IncidentsSource(NoSignature):
    name = "incidents"

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        return Changes(incidents=validate_all(body, IncidentEvent))


class ModelsSource:
    name = "models"
    signature_header: str | None = MLFLOW.signature_header

    def parse(self, body: Any, headers: Mapping[str, str], query: Mapping[str, str]) -> Changes:
        if is_mlflow(body) or headers.get("x-mlflow-delivery-id"):
            return MLFLOW.parse(body, headers, query)
        return Changes(models=validate_all(body, ModelIn))

    def secret(self, settings: Any) -> str | None:
        return MLFLOW.secret(settings)

    def verify(self, secret: str, raw: bytes, headers: Mapping[str, str]) -> bool:
        return MLFLOW.verify(secret, raw, headers)

    def signed(self, headers: Mapping[str, str]) -> bool:
        """Only MLflow's deliveries are signed; triops's own model JSON uses the shared token."""
        return bool(headers.get("x-mlflow-delivery-id") or headers.get("x-mlflow-signature"))


DEPLOYMENTS, INCIDENTS, MODELS = DeploymentsSource(), IncidentsSource(), ModelsSource()
