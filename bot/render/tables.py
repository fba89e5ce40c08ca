"""Tables that fit the console they are printed on.

A rich renderer cannot know the width when it builds its table (the reply is rendered before
it is printed), so it returns `Fit(build)`: `build(width)` runs at print time with the
console's width and leaves out secondary columns on a narrow one. Key columns never wrap
and keep their longest value's width; the others fold instead of being cut with '…'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rich.table import Table

NARROW = 100  # below this many columns, tables drop their secondary columns


@dataclass(frozen=True)
class Fit:
    build: Callable[[int], Table]

    def __rich_console__(self, console: Any, options: Any) -> Iterable[Table]:
        yield self.build(options.max_width)


def key_column(table: Table, header: str, values: Iterable[str], **kw: Any) -> None:
    """A column whose values must show whole (ids, names, figures)."""
    width = max([len(header), *(len(v) for v in values)])
    table.add_column(header, no_wrap=True, min_width=width, **kw)


def column(table: Table, header: str, **kw: Any) -> None:
    """A column whose long values fold onto more lines rather than being cut."""
    table.add_column(header, overflow="fold", **kw)
