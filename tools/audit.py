"""The audit trail as the rest of triops sees it: who asked, which tool ran, who approved."""

from __future__ import annotations

from tools.store.audit import recent, record

__all__ = ["recent", "record"]
