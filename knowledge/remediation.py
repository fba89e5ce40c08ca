"""Ordered remediation steps from a runbook's Diagnosis / Mitigation sections.

A step is a top-level list item or a paragraph; a fenced code block belongs to the step
before it (its commands), and inline code that starts with a known CLI (`kubectl -n … logs`)
counts as a command too. Runbook text is data: it is quoted, never executed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from knowledge.models import Chunk, RemediationStep, RunbookSuggestion

STEP_SECTIONS = ("diagnosis", "mitigation", "runbook", "remediation", "resolution", "troubleshooting")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+(.*)$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_CLI = re.compile(
    r"^\$?\s*(kubectl|oc|etcdctl|curl|promtool|amtool|systemctl|journalctl|df|du|lsof|sysctl|"
    r"helm|docker|crictl|ip|ethtool|iostat|chronyc|timedatectl|ntpq|mdadm|smartctl|cat|grep|ls|"
    r"find|rm|kubeadm|openssl|dig|nslookup|ping|ss|netstat|top|free|vmstat|ulimit)\b"
)


def _strip_prompt(code: str) -> str:
    """`$ kubectl …` -> `kubectl …` so the command can be copied as shown."""
    lines = code.splitlines()
    if lines and all(ln.lstrip().startswith("$ ") or not ln.strip() for ln in lines):
        lines = [ln.lstrip()[2:] if ln.strip() else ln for ln in lines]
    return "\n".join(lines).strip()


def _inline_commands(text: str) -> list[str]:
    """Inline code that is a command line (a CLI name and at least one argument)."""
    return [
        _strip_prompt(c)
        for c in _INLINE_CODE.findall(text)
        if _CLI.match(c.strip()) and len(c.split()) >= 2
    ]


def _placeholder(code: str) -> bool:
    """Upstream blocks that hold only a note such as `# TODO: Command needed`."""
    lines = [ln.strip() for ln in code.splitlines() if ln.strip()]
    return all(ln.startswith("#") for ln in lines) and "todo" in code.lower()


def _substantive(text: str) -> bool:
    """Not a bare footnote such as `[1](https://…)`."""
    return len(_LINK.sub(r"\1", text).split()) >= 2


def _clean(text: str) -> str:
    return " ".join(text.split())


def _join_wrapped(lines: list[str]) -> list[str]:
    """Continuation lines join the line before; each nested item (marked \\x00) starts anew."""
    out: list[str] = []
    for ln in lines:
        if out and not ln.startswith("\x00"):
            out[-1] = f"{out[-1]} {ln}"
        else:
            out.append(ln)
    return out


def parse_steps(markdown: str, section: str) -> list[RemediationStep]:
    """Steps of one section's markdown, numbered from 1 (renumbered by the caller)."""
    steps: list[RemediationStep] = []
    para: list[str] = []
    code: list[str] | None = None
    item_indent: int | None = None

    def flush_para() -> None:
        nonlocal para
        # Nested list items stay on their own lines (as "- item") inside their parent step.
        text = "\n".join(
            ("- " + _clean(ln[1:])) if ln.startswith("\x00") else _clean(ln)
            for ln in _join_wrapped(para)
        ).strip()
        para = []
        if text and _substantive(text):
            steps.append(RemediationStep(number=len(steps) + 1, section=section, text=text,
                                         commands=_inline_commands(text)))

    for line in markdown.splitlines():
        if code is not None:
            if _FENCE.match(line):
                cmd = _strip_prompt("\n".join(code))
                code = None
                if cmd and not _placeholder(cmd):
                    if not steps:
                        steps.append(RemediationStep(number=1, section=section, text="Run:"))
                    steps[-1].commands.append(cmd)
            else:
                code.append(line)
            continue
        if _FENCE.match(line):
            flush_para()
            item_indent = None
            code = []
            continue
        m = _ITEM.match(line)
        if m and (item_indent is None or len(m.group(1)) <= item_indent):
            flush_para()
            item_indent = len(m.group(1))
            para = [m.group(3)]
            continue
        if not line.strip():
            if item_indent is None:
                flush_para()
            continue
        if item_indent is not None and not m and not line.startswith((" ", "\t")):
            flush_para()  # a paragraph after the list
            item_indent = None
        para.append("\x00" + m.group(3).strip() if m else line.strip())
    flush_para()
    return steps


def extract_steps(chunks: Sequence[Chunk], max_steps: int | None = None) -> list[RemediationStep]:
    """Steps from the runbook's step sections, in document order, numbered 1..n."""
    sections: dict[str, list[str]] = {}
    order: list[str] = []
    for c in sorted(chunks, key=lambda c: c.ordinal):
        if c.section.strip().lower() not in STEP_SECTIONS:
            continue
        key = c.heading
        if key not in sections:
            sections[key] = []
            order.append(key)
        sections[key].append(c.text)
    steps: list[RemediationStep] = []
    for key in order:
        for s in parse_steps("\n\n".join(sections[key]), key):
            steps.append(s.model_copy(update={"number": len(steps) + 1}))
    return steps[:max_steps] if max_steps else steps


def top_runbook_for_alert(kb: Any, alert_name: str | None, text: str | None = None,
                          max_steps: int | None = None) -> RunbookSuggestion | None:
    """The runbook for an alert, for the incident post: by name when the corpus has one for it,
    else by search over the alert's text; None below the calibrated confidence."""
    if alert_name:
        docs = kb.docs_for_alert(alert_name)
        if docs:
            return _suggestion(kb, docs[0], alert_name, 1.0, "alert_name", max_steps)
    query = ": ".join(p for p in (alert_name, text) if p)
    if not query.strip():
        return None
    result = kb.search(query, k=1)
    if not result.found or not result.hits:
        return None
    return _suggestion(kb, result.hits[0].doc_id, alert_name, result.confidence, "search", max_steps)


def _suggestion(kb: Any, doc_id: str, alert_name: str | None, confidence: float, how: str,
                max_steps: int | None) -> RunbookSuggestion:
    chunks = kb.document_chunks(doc_id)
    first = chunks[0]
    return RunbookSuggestion(
        alert_name=alert_name,
        title=first.title,
        doc_id=doc_id,
        url=first.url,
        path=f"{first.corpus}/{first.path}",
        confidence=confidence,
        matched_by=how,
        steps=extract_steps(chunks, max_steps),
    )
