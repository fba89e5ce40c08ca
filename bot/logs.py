"""Logging set-up with a filter that masks secrets, whatever code path logs them."""

from __future__ import annotations

import logging
import re

_SECRET_RE = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}|sk-[A-Za-z0-9_-]{16,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{12,}|(?i:(?:password|secret|token|api_key)[\"']?\s*[=:]\s*[\"']?)[^\s\"',}]{6,})"
)


def redact(text: str) -> str:
    return _SECRET_RE.sub(lambda m: m.group(0)[:4] + "…[redacted]", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        red = redact(msg)
        if red != msg:
            record.msg, record.args = red, None
        return True


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
