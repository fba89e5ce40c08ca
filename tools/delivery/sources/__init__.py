"""The registry of change sources (deployments, DORA incidents, model registry changes),
looked up by route name by `POST /hooks/{name}`. A new sender is one module with a `SOURCE`
plus its fixtures under tests/fixtures/senders/<name>/."""

from __future__ import annotations

from tools.delivery.sources import argocd, cdevents, generic, github, gitlab, mlflow
from tools.delivery.sources.base import Changes, ChangeSource

CHANGE_SOURCES: dict[str, ChangeSource] = {
    "github": github.SOURCE,
    "gitlab": gitlab.SOURCE,
    "argocd": argocd.SOURCE,
    "cdevents": cdevents.SOURCE,
    "mlflow": mlflow.SOURCE,
    "deployments": generic.DEPLOYMENTS,
    "incidents": generic.INCIDENTS,
    "models": generic.MODELS,
}

__all__ = ["CHANGE_SOURCES", "ChangeSource", "Changes"]
