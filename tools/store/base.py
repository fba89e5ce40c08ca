"""The one SQLAlchemy MetaData every table joins, and a dialect-neutral upsert.

Convention: every function of tools/store/*.py takes a SQLAlchemy `Connection` first and
works inside the caller's transaction (the caller decides what commits together); the
domain seams (tools.audit, tools.conversations, tools.approvals, tools.idempotency) take a
`Store` and open the transaction for surfaces.

Times are stored as UTC epoch seconds (double precision): the same on SQLite and
PostgreSQL, cheap to range-scan and to hand to numpy without parsing strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Double, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

metadata = MetaData()

Epoch = Double  # column type for UTC epoch seconds

def insert_for(conn: Connection, table: Table) -> sqlite.Insert | postgresql.Insert:
    """The dialect's INSERT, which has ON CONFLICT (SQLite and PostgreSQL spell it alike)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect}")  # guarded by Store.open


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Iterable[str],
    *,
    update: bool = True,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING). The later write wins.

    One prepared statement executed over all rows (executemany): compiling a multi-row
    VALUES clause costs about as much as the insert itself at ingest volumes. The statement
    is built once per (dialect, table, columns): rebuilding it per call (its `excluded`
    alias proxies every column) cost more than the writes on the ingest path.
    """
    if not rows:
        return
    rows = clip_to_columns(table, rows)
    keys = tuple(keys)
    unique = len({tuple(r.get(k) for k in keys) for r in rows}) == len(rows)
    conn.execute(upsert_statement(conn, table, keys, tuple(rows[0]), update, batched=unique), list(rows))


_UPSERTS: dict[tuple[str, Table, tuple[str, ...], tuple[str, ...], bool, bool], Any] = {}


def upsert_statement(conn: Connection, table: Table, keys: tuple[str, ...], columns: tuple[str, ...],
                     update: bool = True, *, batched: bool = False) -> Any:
    """The cached INSERT ... ON CONFLICT for rows with these columns (see `upsert`).

    `batched` (rows unique on `keys`): on PostgreSQL the statement returns the keys, which
    makes SQLAlchemy send the rows as multi-row VALUES pages ("insertmanyvalues") instead of
    one INSERT per row: one statement for a whole ingest group. Unique rows are required:
    ON CONFLICT cannot touch one row twice in one statement."""
    batched = batched and conn.dialect.name == "postgresql"
    key = (conn.dialect.name, table, keys, columns, update, batched)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        ins = insert_for(conn, table)
        cols = [c for c in columns if c not in keys]
        if update and cols:
            stmt = ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in cols})
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
        if batched:
            stmt = stmt.returning(*(table.c[k] for k in keys))
        _UPSERTS[key] = stmt
    return stmt


def clip_to_columns(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """Strings cut to their column's length: PostgreSQL refuses a longer value (a 500 for a
    sender's over-long label) where SQLite stores it whole; both now store the same prefix."""
    limits = _string_limits(table)
    if not limits:
        return rows
    if not any(isinstance(r.get(k), str) and len(r[k]) > n for r in rows for k, n in limits):
        return rows
    lim = dict(limits)
    return [{k: (v[: lim[k]] if k in lim and isinstance(v, str) and len(v) > lim[k] else v)
             for k, v in r.items()} for r in rows]


_LIMITS: dict[Table, tuple[tuple[str, int], ...]] = {}


def _string_limits(table: Table) -> tuple[tuple[str, int], ...]:
    got = _LIMITS.get(table)
    if got is None:
        got = _LIMITS[table] = tuple(
            (c.name, c.type.length) for c in table.columns
            if isinstance(c.type, String) and not isinstance(c.type, Text) and c.type.length)
    return got
