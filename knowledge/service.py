"""The one way surfaces open the knowledge base: from Settings, with the default corpus in it."""

from __future__ import annotations

import logging
from typing import Any

from knowledge.embedding import EmbeddingModelError
from knowledge.index import KnowledgeBase
from knowledge.sources import CorpusError
from tools.errors import KnowledgeBaseUnavailable

log = logging.getLogger("triops.knowledge")




def open_knowledge_base(settings: Any, *, seed_default: bool = True) -> KnowledgeBase:
    """Open the runbook index; on first use ingest the shipped corpus (≈0.3 s from its cache)."""
    try:
        kb = KnowledgeBase.from_settings(settings)
        if seed_default:
            report = kb.ensure_default_corpus()
            if report is not None:
                log.info("runbook corpus %s ingested: %d runbooks, %d chunks in %.2f s",
                         report.corpus, report.documents, report.chunks, report.seconds)
        return kb
    except (EmbeddingModelError, CorpusError) as exc:
        raise KnowledgeBaseUnavailable(str(exc)) from exc
    except Exception as exc:  # chroma client/server errors have no common base class
        where = getattr(settings, "chroma_url", None) or f"{settings.home}/chroma"
        raise KnowledgeBaseUnavailable(f"Cannot open the runbook index at {where}: {exc}") from exc
