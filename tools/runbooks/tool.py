"""The `runbook_search` tool: the right runbook for an alert or question, and its steps."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from knowledge.remediation import extract_steps
from tools.contract import ToolContext, tool
from tools.errors import ToolError
from tools.runbooks.models import RunbookQuery, RunbookResults

if TYPE_CHECKING:
    from knowledge.index import KnowledgeBase
    from knowledge.remediation import RunbookSuggestion


def knowledge_base(ctx: ToolContext) -> KnowledgeBase:
    """The context's shared index (model loaded once per process). Imported lazily: chromadb
    takes ~2 s to import, which commands that never search should not pay."""
    from knowledge.service import KnowledgeBaseUnavailable, open_knowledge_base

    try:
        return ctx.resource("kb", lambda: open_knowledge_base(ctx.settings))
    except KnowledgeBaseUnavailable as exc:
        raise ToolError(str(exc), hint="Check TRIOPS_CHROMA_URL / TRIOPS_HOME, then `triops kb list`.") from exc


def warm(ctx: ToolContext) -> None:
    """Open the index (and ingest the default corpus) ahead of the first question; a failure
    is logged here and reported to whoever asks later."""
    try:
        knowledge_base(ctx)
    except ToolError as exc:
        logging.getLogger("triops.knowledge").warning("runbook index not ready: %s", exc.message)


@tool(
    "runbook_search",
    "Find the runbook for an alert name or a question about an outage (hybrid BM25 + vector "
    "search over the runbook corpus). Returns the matching runbooks with links and, when one "
    "is confidently right, its first diagnosis and mitigation steps with their commands. "
    "found=false means no runbook matches: say so, never present the nearest one as the answer.",
)
def runbook_search(ctx: ToolContext, args: RunbookQuery) -> RunbookResults:
    kb = knowledge_base(ctx)
    try:
        result = kb.search(args.query, k=args.k)
        steps = []
        if result.found and result.hits and args.steps:
            steps = extract_steps(kb.document_chunks(result.hits[0].doc_id), max_steps=args.steps)
    except Exception as exc:  # the Chroma server went away, the collection was dropped…
        logging.getLogger("triops.knowledge").exception("runbook search failed")
        raise ToolError(
            f"The runbook index could not be searched ({type(exc).__name__}).",
            hint="Try again in a moment; `triops kb list` shows whether the index answers.",
        ) from exc
    return RunbookResults(**result.model_dump(), steps=steps)


def runbook_lookup(ctx: ToolContext) -> Callable[[str, str], RunbookSuggestion | None]:
    """The incident post's hook: (alert name, alert text) -> the top runbook with its first
    steps, or None (no confident match, or the index is not available)."""
    from knowledge.remediation import top_runbook_for_alert

    def lookup(alert_name: str, text: str) -> RunbookSuggestion | None:
        try:
            kb = knowledge_base(ctx)
        except ToolError:
            return None
        return top_runbook_for_alert(kb, alert_name, text, max_steps=3)

    return lookup
