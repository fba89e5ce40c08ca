"""Everything a running triops needs, built once from Settings and passed down (no globals)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from tools.catalog import ServiceCatalog
from tools.contract import ToolContext, ToolRegistry
from tools.registry import default_registry
from tools.settings import Settings
from tools.store import Store
from tools.timeutil import now_utc

log = logging.getLogger("triops")


@dataclass
class Runtime:
    settings: Settings
    store: Store
    catalog: ServiceCatalog
    registry: ToolRegistry
    ctx: ToolContext

    @classmethod
    def build(
        cls,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        catalog: ServiceCatalog | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> Runtime:
        settings = settings or Settings()
        store = store or Store.from_settings(settings)
        catalog = catalog if catalog is not None else ServiceCatalog.load(settings.services_path)
        registry = default_registry()
        ctx = ToolContext(settings=settings, store=store, catalog=catalog, clock=clock)
        return cls(settings=settings, store=store, catalog=catalog, registry=registry, ctx=ctx)

    def call(self, tool: str, args: dict[str, Any] | BaseModel | None = None) -> BaseModel:
        return self.registry.call(self.ctx, tool, args)

    def reload_catalog(self) -> None:
        self.catalog = ServiceCatalog.load(self.settings.services_path)
        self.ctx.catalog = self.catalog
