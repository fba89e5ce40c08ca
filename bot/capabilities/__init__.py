"""Every capability triops offers. A new one is one module in this package that defines
`CAPABILITIES = [Capability(...)]`; every surface (Slack, console, CLI, planner, agent) is
built by iterating this registry. Importing it is cheap: tools load on first use."""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.capabilities.base import Capability, load

if TYPE_CHECKING:
    from tools.contract import Tool, ToolRegistry

__all__ = ["Capabilities", "Capability", "capabilities", "load"]

_NOT_DOMAINS = {"base", "args"}


class Capabilities:
    """An ordered set of capabilities, findable by tool name and by verb."""

    def __init__(self, caps: list[Capability] | None = None):
        self._by_name: dict[str, Capability] = {}
        for c in caps or []:
            self.register(c)

    def register(self, cap: Capability) -> Capability:
        if cap.name in self._by_name:
            raise ValueError(f"capability {cap.name} registered twice")
        taken = {v for c in self for v in c.verbs}
        clash = taken.intersection(cap.verbs)
        if clash:
            raise ValueError(f"capability {cap.name}: verb(s) {sorted(clash)} already taken")
        self._by_name[cap.name] = cap
        return cap

    def unregister(self, name: str) -> None:
        self._by_name.pop(name, None)

    def __iter__(self) -> Iterator[Capability]:
        return iter(list(self._by_name.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Capability | None:
        return self._by_name.get(name)

    def by_verb(self, words: list[str]) -> tuple[Capability, int] | None:
        """The capability whose verb matches the most leading words, and how many matched."""
        lowered = [w.lower() for w in words]
        best: tuple[Capability, int] | None = None
        for c in self:
            for v in c.verbs:
                parts = v.split()
                if lowered[: len(parts)] == parts and (best is None or len(parts) > best[1]):
                    best = (c, len(parts))
        return best

    def registry(self) -> ToolRegistry:
        """The tools, loaded lazily by name (the agent and planner iterate it)."""
        from tools.contract import ToolRegistry

        reg = ToolRegistry()
        for c in self:
            reg.register_lazy(c.name, _loader(c))
        return reg


def _loader(cap: Capability) -> Callable[[], Tool[Any, Any]]:
    return lambda: cap.resolved_tool


def _discover() -> Capabilities:
    caps = Capabilities()
    modules = [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if info.name not in _NOT_DOMAINS and not info.name.startswith("_")
    ]
    # ORDER: where a domain stands in help and in the CLI (lower first).
    for module in sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__)):
        for cap in getattr(module, "CAPABILITIES", []):
            caps.register(cap)
    return caps


_DEFAULT: Capabilities | None = None
_LOCK = threading.Lock()


def capabilities() -> Capabilities:
    """The process's capability registry (declarations only: static, like a route table)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            _DEFAULT = _discover()
        return _DEFAULT
