"""Pydantic models at the knowledge base's boundaries: chunks in, search hits and steps out."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field


class Chunk(BaseModel):
    """One heading-delimited piece of a runbook, with everything needed to cite it."""

    id: str = Field(description="Stable id: '<corpus>/<path>#<heading anchor>'")
    corpus: str
    path: str = Field(description="Path of the markdown file inside its corpus folder")
    doc_id: str = Field(description="'<corpus>/<path>': one runbook")
    title: str
    alert_name: str | None = None
    section: str = Field(default="", description="Level-2 heading (Meaning, Diagnosis…); '' before it")
    subsection: str = Field(default="", description="Deeper headings joined by ' > '")
    ordinal: int = Field(description="Position of the chunk in its runbook, from 0")
    text: str = Field(description="Markdown body of the chunk, headings excluded")
    url: str | None = None
    front_matter: dict[str, str] = Field(default_factory=dict)
    content_hash: str = ""

    @property
    def heading(self) -> str:
        return " > ".join(p for p in (self.section, self.subsection) if p)

    def embedding_text(self) -> str:
        """What gets embedded and BM25-indexed: the runbook's names give every chunk its topic."""
        names = [self.title]
        if self.alert_name:
            names.append(split_identifier(self.alert_name))
        fm_title = self.front_matter.get("title")
        if fm_title:
            names.append(fm_title)
        head = " / ".join(dict.fromkeys(n for n in names if n))
        if self.heading:
            head += f" — {self.heading}"
        return f"{head}\n{self.text}".strip()


def split_identifier(name: str) -> str:
    """'KubePodCrashLooping' -> 'Kube Pod Crash Looping', so word-piece models and BM25 see words."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return re.sub(r"[_\-]+", " ", spaced)


class Snippet(BaseModel):
    section: str
    text: str
    chunk_id: str


class RunbookHit(BaseModel):
    rank: int
    doc_id: str
    title: str
    alert_name: str | None = None
    corpus: str
    path: str
    url: str | None = None
    score: float = Field(description="Reciprocal-rank-fusion score normalised to [0, 1]")
    dense_similarity: float | None = Field(default=None, description="Best chunk cosine similarity")
    bm25_score: float | None = None
    alert_name_match: bool = False
    snippets: list[Snippet] = Field(default_factory=list)

    @property
    def link(self) -> str:
        return self.url or f"{self.corpus}/{self.path}"


class RunbookSearchResult(BaseModel):
    """`found` is False when the best hit is under the calibrated confidence: hits are then
    only the nearest runbooks, never to be presented as the answer."""

    query: str
    found: bool
    confidence: float
    threshold: float
    mode: str = "hybrid"
    unknown_alerts: list[str] = Field(
        default_factory=list, description="Alert names in the query that no runbook covers"
    )
    hits: list[RunbookHit] = Field(default_factory=list)


class RemediationStep(BaseModel):
    number: int
    section: str = Field(description="Diagnosis or Mitigation (and sub-heading)")
    text: str
    commands: list[str] = Field(default_factory=list)


class RunbookSuggestion(BaseModel):
    """What the incident post shows: the runbook, why it was picked, and its first steps."""

    alert_name: str | None
    title: str
    doc_id: str
    url: str | None
    path: str
    confidence: float
    matched_by: str = Field(description="'alert_name' or 'search'")
    steps: list[RemediationStep] = Field(default_factory=list)

    @property
    def link(self) -> str:
        return self.url or self.path


class CorpusInfo(BaseModel):
    name: str
    documents: int
    chunks: int
    source: str | None = None


class IngestReport(BaseModel):
    corpus: str
    documents: int
    chunks: int
    added: int
    updated: int
    unchanged: int
    deleted: int
    embedded: int
    seconds: float
