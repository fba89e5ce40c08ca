"""bot/agent reads the store only through domain seams (tools.audit, tools.conversations,
tools.approvals, tools.persistence, tools.names…): no table, no SQL in the agent."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "bot" / "agent"
NOT_YET = {"slack.py", "triage.py"}  # the Slack surface's files move with that surface
FORBIDDEN = ("tools.store", "sqlalchemy")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


@pytest.mark.parametrize("path", sorted(p for p in AGENT.glob("*.py") if p.name not in NOT_YET), ids=lambda p: p.name)
def test_agent_modules_use_the_domain_seams(path: Path) -> None:
    bad = sorted(m for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert bad == []


def test_the_check_sees_a_store_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from tools import store\n    from tools.store.audit import record\n")
    assert {"tools.store", "tools.store.audit"} <= imports_of(sample)
