"""The input of `assistant_usage`: light to import (the CLI builds its options from it)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class UsageQuery(BaseModel):
    days: int = Field(default=30, ge=1, le=3650, description="How many days back to count")
