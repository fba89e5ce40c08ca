"""Input and output of the `runbook_search` tool."""

from __future__ import annotations

from pydantic import BaseModel, Field

from knowledge.models import RemediationStep, RunbookSearchResult


class RunbookQuery(BaseModel):
    query: str = Field(min_length=1, max_length=2000,
                       description="An alert name (e.g. KubePodCrashLooping) or a question in words")
    k: int = Field(default=3, ge=1, le=10, description="How many runbooks to list")
    steps: int = Field(default=6, ge=0, le=30, description="How many steps of the top runbook to quote")


class RunbookResults(RunbookSearchResult):
    """Search result plus, when a runbook was found, its first Diagnosis/Mitigation steps."""

    steps: list[RemediationStep] = Field(default_factory=list)
