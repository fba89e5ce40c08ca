"""Logging set-up with a filter that masks secrets, whatever code path logs them."""

from __future__ import annotations

import logging
import re

# Secrets that must reach neither a log nor the model: Slack, OpenAI, GitHub and AWS tokens,
# bearer headers, `password=…`-style pairs, and passwords inside URLs (postgresql://u:pw@h).
_SECRET_RE = re.compile(
    r"xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}|sk-[A-Za-z0-9_-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{12,}"
    r"|(?i:(?:password|passwd|secret|token|api_key)[\"']?\s*[=:]\s*[\"']?)[^\s\"',}]{6,}"
)
_URL_PASSWORD_RE = re.compile(r"(://[^:/\s@]+:)[^@\s/]+@")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    text = _URL_PASSWORD_RE.sub(lambda m: m.group(1) + REDACTED + "@", text)
    return _SECRET_RE.sub(lambda m: m.group(0)[:4] + "…" + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Masks the message and the traceback (formatted here, so the handler prints ours)."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
