"""Every tool triops offers, in one list. A new tool joins here and every surface sees it."""

from __future__ import annotations

from tools.alerts.tool import TOOLS as ALERT_TOOLS
from tools.contract import Tool, ToolRegistry
from tools.dora.tool import dora_metrics


def all_tools() -> list[Tool]:
    return [dora_metrics, *ALERT_TOOLS]


def default_registry() -> ToolRegistry:
    return ToolRegistry(all_tools())
