"""Markdown runbooks -> heading-delimited chunks (pure functions, no I/O but reading the text given).

A chunk is one section (## Meaning, ## Diagnosis, ### Defrag…) of one runbook. Long sections are
cut at paragraph boundaries, never inside a fenced code block, so commands stay whole.
Ids come from the file path and the heading path, so they survive re-ingestion unchanged
as long as the headings do; the content hash tells what has to be re-embedded.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

import yaml

from knowledge.models import Chunk

MAX_CHUNK_CHARS = 1200
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_:]*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """YAML front matter between '---' lines at the very top (Hugo style); bad YAML is kept as text."""
    if not text.startswith("---"):
        return {}, text
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].strip() == "---":
            try:
                data = yaml.safe_load("".join(lines[1:i])) or {}
            except yaml.YAMLError:
                return {}, text
            if not isinstance(data, dict):
                return {}, text
            fm = {str(k): str(v) for k, v in data.items() if v is not None and not isinstance(v, dict | list)}
            return fm, "".join(lines[i + 1 :])
    return {}, text


def slug(text: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "section"


def _sections(body: str) -> list[tuple[int, str, list[str]]]:
    """(level, heading, lines) in document order; level 0 is the text before any heading."""
    out: list[tuple[int, str, list[str]]] = [(0, "", [])]
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            out.append((len(m.group(1)), m.group(2).strip(), []))
        else:
            out[-1][2].append(line)
    return out


def _paragraph_blocks(text: str) -> list[str]:
    """Blank-line separated blocks, with each fenced code block kept in one piece."""
    blocks: list[str] = []
    cur: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        if not in_fence and not line.strip():
            if cur:
                blocks.append("\n".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append("\n".join(cur))
    return blocks


def split_long(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Greedy packing of paragraph blocks into pieces of at most `limit` characters (a block
    longer than the limit, e.g. a long code block, stays whole)."""
    pieces: list[str] = []
    cur = ""
    for block in _paragraph_blocks(text):
        if cur and len(cur) + 2 + len(block) > limit:
            pieces.append(cur)
            cur = block
        else:
            cur = f"{cur}\n\n{block}" if cur else block
    if cur:
        pieces.append(cur)
    return pieces


def _alert_name(front_matter: dict[str, str], h1: str | None, stem: str) -> str | None:
    for key in ("alert", "alertname", "alert_name"):
        if front_matter.get(key):
            return front_matter[key]
    # The corpus convention is file name == alert name (an upstream H1 may be a copy-paste
    # slip, as in PrometheusRemoteWriteBehind.md), so the file name wins over the heading.
    if _IDENT.match(stem):
        return stem
    if h1 and _IDENT.match(h1):
        return h1
    return None


def published_url(template: str | None, path: str) -> str | None:
    """Fill a corpus url_template: {path}, {stem}, {stem_lower}, {parent} (the directory)."""
    if not template:
        return None
    p = PurePosixPath(path)
    return template.format(
        path=path, stem=p.stem, stem_lower=p.stem.lower(), parent=str(p.parent).strip(".")
    )


def content_hash(chunk: Chunk) -> str:
    """Hash of everything stored for a chunk: a change in any of it means re-embed and rewrite."""
    h = hashlib.sha256()
    for part in (chunk.embedding_text(), chunk.url or "", chunk.alert_name or "", str(chunk.ordinal)):
        h.update(part.encode())
        h.update(b"\0")
    for k, v in sorted(chunk.front_matter.items()):
        h.update(f"{k}={v}\0".encode())
    return h.hexdigest()[:32]


def chunk_markdown(text: str, *, corpus: str, path: str, url_template: str | None = None) -> list[Chunk]:
    """Split one runbook into chunks. `path` is relative to the corpus folder, '/'-separated."""
    front_matter, body = split_front_matter(text)
    sections = _sections(body)
    h1 = next((h for lvl, h, _ in sections if lvl == 1), None)
    stem = PurePosixPath(path).stem
    title = h1 or front_matter.get("title") or stem
    alert = _alert_name(front_matter, h1, stem)
    url = published_url(url_template, path)
    doc_id = f"{corpus}/{path}"

    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    stack: list[tuple[int, str]] = []  # open headings of level >= 2
    for level, heading, lines in sections:
        if level >= 2:
            stack = [(lv, h) for lv, h in stack if lv < level] + [(level, heading)]
        elif level == 1:
            stack = []
        body_text = "\n".join(lines).strip()
        if not body_text:
            continue
        section = stack[0][1] if stack and stack[0][0] == 2 else (stack[0][1] if stack else "")
        subsection = " > ".join(h for _, h in stack[1:])
        anchor = "/".join(slug(h) for _, h in stack) or "intro"
        for part_no, piece in enumerate(split_long(body_text), start=1):
            key = anchor if part_no == 1 else f"{anchor}~p{part_no}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:  # the same heading twice in one file
                key = f"{key}~{seen[key]}"
            chunk = Chunk(
                id=f"{doc_id}#{key}",
                corpus=corpus,
                path=path,
                doc_id=doc_id,
                title=title,
                alert_name=alert,
                section=section,
                subsection=subsection,
                ordinal=len(chunks),
                text=piece,
                url=url,
                front_matter=front_matter,
            )
            chunk.content_hash = content_hash(chunk)
            chunks.append(chunk)
    return chunks
