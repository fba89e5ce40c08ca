"""The accepted shapes of deployment and incident events (JSON, CSV, webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.timeutil import utc

_ENV_ALIASES = {"prod": "production", "prd": "production", "live": "production"}


def normalise_environment(env: str) -> str:
    env = env.strip().lower()
    return _ENV_ALIASES.get(env, env)


class Commit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sha: str = Field(min_length=1, max_length=64)
    committed_at: datetime | None = None

    @field_validator("committed_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


class DeploymentEvent(BaseModel):
    """A finished deployment. Naive timestamps are taken as UTC; all are stored in UTC."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    service: str = Field(min_length=1, max_length=128)
    environment: str = "production"
    started_at: datetime | None = None
    finished_at: datetime
    status: Literal["success", "failure"]
    kind: Literal["normal", "rollback", "hotfix"] = "normal"
    remediates: str | None = Field(default=None, max_length=200)
    commits: list[Commit] = Field(default_factory=list)
    team: str | None = Field(default=None, max_length=128)
    version: str | None = Field(default=None, max_length=128)

    @field_validator("status", "kind", mode="before")
    @classmethod
    def _lower(cls, v: object) -> object:
        return v.strip().lower() if isinstance(v, str) else v

    @field_validator("environment")
    @classmethod
    def _env(cls, v: str) -> str:
        return normalise_environment(v)

    @field_validator("started_at", "finished_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)

    @field_validator("remediates", "team", "version", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentEvent:
        if self.started_at and self.started_at > self.finished_at:
            raise ValueError("started_at is after finished_at")
        if self.remediates and self.remediates == self.id:
            raise ValueError("remediates names the deployment itself")
        if self.kind == "normal" and self.remediates:
            raise ValueError("remediates is set but kind is 'normal' (use rollback or hotfix)")
        return self


class IncidentEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    service: str = Field(min_length=1, max_length=128)
    opened_at: datetime
    resolved_at: datetime | None = None
    caused_by_deployment: str | None = Field(default=None, max_length=200)
    severity: str | None = Field(default=None, max_length=32)
    title: str | None = Field(default=None, max_length=500)

    @field_validator("opened_at", "resolved_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)

    @field_validator("resolved_at", "caused_by_deployment", "severity", "title", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    @model_validator(mode="after")
    def _consistent(self) -> IncidentEvent:
        if self.resolved_at and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at is before opened_at")
        return self
