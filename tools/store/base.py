"""The one SQLAlchemy MetaData every table joins, and a dialect-neutral upsert.

Times are stored as UTC epoch seconds (double precision): the same on SQLite and
PostgreSQL, cheap to range-scan and to hand to numpy without parsing strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Double, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

metadata = MetaData()

Epoch = Double  # column type for UTC epoch seconds

# SQLite caps bound parameters per statement (32766 on modern builds); stay well below.
_MAX_PARAMS = 30000


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Iterable[str],
    *,
    update: bool = True,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING). The later write wins."""
    if not rows:
        return
    keys = list(keys)
    dialect = conn.dialect.name
    if dialect == "sqlite":
        insert = sqlite.insert
    elif dialect == "postgresql":
        insert = postgresql.insert
    else:  # pragma: no cover - guarded by Store.open
        raise RuntimeError(f"unsupported database dialect {dialect}")
    width = max(1, len(rows[0]))
    batch = max(1, _MAX_PARAMS // width)
    for i in range(0, len(rows), batch):
        chunk = list(rows[i : i + batch])
        stmt = insert(table).values(chunk)
        cols = [c for c in chunk[0] if c not in keys]
        if update and cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        conn.execute(stmt)
