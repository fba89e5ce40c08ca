"""Prompt templates as versioned files (Jinja2), shipped as package data, with one loader.

Templates are rendered with StrictUndefined so a missing variable fails loudly in tests
instead of sending the model a prompt with a hole in it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PROMPT_DIR = Path(__file__).parent


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(PROMPT_DIR)),
        undefined=StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def names() -> list[str]:
    return sorted(p.stem for p in PROMPT_DIR.glob("*.j2"))


def render(name: str, **variables: Any) -> str:
    """Render `prompts/<name>.j2`."""
    return _env().get_template(f"{name}.j2").render(**variables).strip()
