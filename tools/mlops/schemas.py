"""Accepted shapes of model-registry events (webhook, file ingest, MLflow sync)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.timeutil import utc

LEGACY_STAGES = {"none": None, "staging": "Staging", "production": "Production", "archived": "Archived"}


class ModelVersionIn(BaseModel):
    """One version of a registered model. Naive timestamps are UTC."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    version: str = Field(min_length=1, max_length=64)
    aliases: list[str] = Field(default_factory=list)
    stage: str | None = Field(default=None, description="legacy MLflow stage: Staging, Production, Archived")
    status: str | None = None
    run_id: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=1000)
    training_data: str | None = Field(default=None, max_length=1000, description="where the training data lives")
    trained_at: datetime | None = None
    registered_at: datetime | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    description: str | None = Field(default=None, max_length=2000)

    @field_validator("version", mode="before")
    @classmethod
    def _version_str(cls, v: object) -> object:
        return str(v) if isinstance(v, int) else v

    @field_validator("stage", mode="before")
    @classmethod
    def _stage(cls, v: object) -> object:
        if v is None or not isinstance(v, str):
            return v
        key = v.strip().lower()
        if key not in LEGACY_STAGES:
            raise ValueError(f"stage must be one of None, Staging, Production, Archived (got {v!r})")
        return LEGACY_STAGES[key]

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, v: list[str]) -> list[str]:
        out = []
        for a in v:
            a = a.strip().lower()
            if not a or len(a) > 64:
                raise ValueError("an alias is 1 to 64 characters")
            out.append(a)
        return out

    @field_validator("trained_at", "registered_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)


class ModelIn(BaseModel):
    """A registered model and (optionally) its versions.

    The flat form {name, version, ...} is accepted too and read as one version.
    """

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    service: str | None = Field(default=None, max_length=128, description="the service this model serves")
    team: str | None = Field(default=None, max_length=128)
    description: str | None = Field(default=None, max_length=2000)
    source: str = Field(default="local", max_length=32)
    prediction_column: str | None = Field(default=None, max_length=200, description="the model's output column in logged windows")
    versions: list[ModelVersionIn] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, data: object) -> object:
        if isinstance(data, dict) and "version" in data and "versions" not in data:
            model_keys = {"name", "service", "team", "source", "prediction_column"}
            version = {k: v for k, v in data.items() if k not in model_keys}
            return {**{k: data[k] for k in model_keys if k in data}, "versions": [version]}
        return data


class RegistryEvent(BaseModel):
    """An alias set on or removed from a version (MLflow's model_version_alias.* webhooks)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    model: str = Field(min_length=1, max_length=200)
    alias: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, min_length=1, max_length=64)  # None: whatever it points at
    action: str = Field(pattern="^(set|delete)$")
    at: datetime | None = None

    @field_validator("alias")
    @classmethod
    def _alias(cls, v: str) -> str:
        return v.lower()

    @field_validator("at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        return None if v is None else utc(v)
