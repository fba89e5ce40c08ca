"""Every tool triops offers, in one list. A new tool joins here and every surface sees it."""

from __future__ import annotations

from tools.alerts.tool import TOOLS as ALERT_TOOLS
from tools.contract import Tool, ToolRegistry
from tools.dora.tool import dora_metrics
from tools.mlops.tool import drift_report, model_status
from tools.runbooks.tool import runbook_search


def all_tools() -> list[Tool]:
    return [dora_metrics, *ALERT_TOOLS, runbook_search, model_status, drift_report]


def default_registry() -> ToolRegistry:
    return ToolRegistry(all_tools())
