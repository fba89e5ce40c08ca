"""One exception tree for everything triops says went wrong (httpx's model: one root).

`TriopsError` carries what a person needs: the message, a hint, the choices. Surfaces turn
it into an `ErrorInfo` (a Slack reply, a CLI exit, a 4xx body); nobody builds error dicts by
hand. Anything that is not a `TriopsError` is a bug: logged with a reference, never shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from tools.errorinfo import ErrorInfo

Status = Literal["ok", "error", "no_data", "approval_required"]


def __getattr__(name: str) -> Any:
    # ErrorInfo is a pydantic model: loaded on first use, so raising (and `triops --help`)
    # never pays for pydantic.
    if name == "ErrorInfo":
        from tools.errorinfo import ErrorInfo

        return ErrorInfo
    raise AttributeError(f"module 'tools.errors' has no attribute {name!r}")


class TriopsError(Exception):
    """Root of every error triops raises for a person to read."""

    status: ClassVar[Status] = "error"

    def __init__(self, message: str, *, hint: str | None = None, choices: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.choices = list(choices or [])

    def info(self) -> ErrorInfo:
        from tools.errorinfo import ErrorInfo

        return ErrorInfo(message=self.message, hint=self.hint, choices=self.choices)


class ToolError(TriopsError):
    """A tool cannot answer: bad argument, unknown name. Never a stack trace in Slack."""


class NoDataError(ToolError):
    """The question is fine but there is nothing to answer it with (yet)."""

    status: ClassVar[Status] = "no_data"


class UnreachableError(ToolError):
    """A service did not answer (refused, reset, timed out): asking again at once won't help."""


class ApprovalRequired(ToolError):
    """A tool that changes a system was called without a human's approval."""

    status: ClassVar[Status] = "approval_required"


class PayloadError(TriopsError, ValueError):
    """A sender's payload or a file we cannot take; the message is the reason for the 4xx."""


class DriftInputError(ToolError, ValueError):
    """Data that cannot be tested for drift (missing column, wrong type); says which."""


class StoreUnavailable(TriopsError):
    """The database does not answer."""


class KnowledgeError(TriopsError):
    """The runbook index, its model or a corpus cannot be used."""


class KnowledgeBaseUnavailable(KnowledgeError, RuntimeError):
    """The index cannot be opened (model file, Chroma server)."""


class EmbeddingModelError(KnowledgeError, RuntimeError):
    """The embedding model or tokenizer file is missing or is not the file we checked."""


class CorpusError(KnowledgeError, ValueError):
    """A corpus folder or name we cannot use."""
