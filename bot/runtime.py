"""Everything a running triops needs, built once from Settings and passed down (no globals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from tools.contract import ToolContext, ToolRegistry
from tools.settings import Settings
from tools.timeutil import now_utc

if TYPE_CHECKING:
    from bot.capabilities import Capabilities
    from bot.observability import BotMetrics
    from tools.catalog import ServiceCatalog
    from tools.persistence import Store
    from tools.result import ToolResult

log = logging.getLogger("triops")


def audit_tool_call(store: Store) -> Callable[[ToolResult, str], None]:
    """The runtime's audit of every tool call, on every path (Slack, CLI, planner, agent)."""
    from tools import audit

    def record(result: ToolResult, actor: str) -> None:
        audit.record(store, actor, "tool_call", result.tool, args=result.args, status=result.status,
                     ms=round(result.ms, 1), ref=result.ref)

    return record


@dataclass
class Runtime:
    settings: Settings
    store: Store
    catalog: ServiceCatalog
    registry: ToolRegistry
    ctx: ToolContext
    capabilities: Capabilities
    metrics: BotMetrics  # what /metrics serves: tool calls counted through the wrapper

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        catalog: ServiceCatalog | None = None,
        clock: Callable[[], datetime] = now_utc,
        capabilities: Capabilities | None = None,
        registry: ToolRegistry | None = None,
        metrics: BotMetrics | None = None,
    ) -> Runtime:
        from bot import observability
        from bot.capabilities import capabilities as default_capabilities
        from tools.catalog import ServiceCatalog
        from tools.persistence import open_store

        settings = settings or Settings()
        store = store or open_store(settings)
        catalog = catalog if catalog is not None else ServiceCatalog.load(settings.services_path)
        caps = capabilities or default_capabilities()
        registry = registry or caps.registry()
        metrics = metrics or observability.default()
        # every tool call: counted and timed for /metrics, then audited
        ctx = ToolContext(settings=settings, store=store, catalog=catalog, clock=clock,
                          on_call=metrics.tool_hook(audit_tool_call(store)))
        return cls(settings=settings, store=store, catalog=catalog, registry=registry, ctx=ctx,
                   capabilities=caps, metrics=metrics)

    def run(self, tool: str, args: dict[str, Any] | BaseModel | None = None, *,
            actor: str | None = None) -> ToolResult:
        """Call a tool through the one wrapper; the result says how it went."""
        return self.registry.run(self.ctx, tool, args, actor=actor)

    def call(self, tool: str, args: dict[str, Any] | BaseModel | None = None, *,
             actor: str | None = None) -> BaseModel:
        """The output, or the failure raised as a `TriopsError` (for code paths, not surfaces)."""
        return self.run(tool, args, actor=actor).unwrap()

    def reload_catalog(self) -> None:
        from tools.catalog import ServiceCatalog

        self.catalog = ServiceCatalog.load(self.settings.services_path)
        self.ctx.catalog = self.catalog
