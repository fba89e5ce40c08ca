"""Read a folder of markdown runbooks into chunks (the only file I/O of ingestion)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml

from knowledge.chunking import chunk_markdown
from knowledge.models import Chunk
from tools.errors import CorpusError

DEFAULT_CORPUS = "prometheus-operator"
MANIFEST = "corpus.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")




def default_corpus_dir() -> Path:
    return Path(str(resources.files("knowledge") / "corpus" / DEFAULT_CORPUS))


def read_manifest(folder: Path) -> dict[str, str]:
    f = folder / MANIFEST
    if not f.is_file():
        return {}
    try:
        data = yaml.safe_load(f.read_text()) or {}
    except yaml.YAMLError as exc:
        raise CorpusError(f"{f}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"{f}: expected a mapping with name / url_template")
    return {k: str(v) for k, v in data.items() if v is not None}


def validate_name(name: str) -> str:
    if not _NAME.match(name):
        raise CorpusError(
            f"Bad corpus name {name!r}: use letters, digits, '.', '_' or '-' (at most 63)"
        )
    return name


def load_folder(
    folder: Path, name: str | None = None, url_template: str | None = None
) -> tuple[str, str | None, list[Chunk]]:
    """(corpus name, url template, chunks) for every *.md under `folder` (README/_index skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"Not a folder: {folder}")
    manifest = read_manifest(folder)
    corpus = validate_name(name or manifest.get("name") or folder.resolve().name)
    template = url_template or manifest.get("url_template")
    chunks: list[Chunk] = []
    files = sorted(p for p in folder.rglob("*.md") if p.is_file())
    for f in files:
        if f.name.lower() in {"readme.md", "_index.md"}:
            continue
        rel = f.relative_to(folder).as_posix()
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{f}: not UTF-8 text") from exc
        chunks.extend(chunk_markdown(text, corpus=corpus, path=rel, url_template=template))
    if not chunks:
        raise CorpusError(f"No markdown runbooks (*.md) with any text under {folder}")
    return corpus, template, chunks
