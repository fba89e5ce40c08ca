"""Leases: one holder at a time for a named job (e.g. the alert correlator), by expiry.

A lease row survives `kill -9`: its holder renews it every second or so; when the holder
dies the row simply expires and the next `acquire` takes it. `epoch` grows each time the
holder changes, and `position` is the holder's progress (e.g. how far it consumed a log);
`advance` moves it only while the caller still holds the epoch it started from, so a
holder that was paused past its expiry and replaced cannot write over its successor.

Times come from the database's clock, the one clock every replica shares.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    String,
    Table,
    bindparam,
    case,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Connection

from tools.store.base import Epoch, insert_for, metadata

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", Epoch, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
)


class Held(NamedTuple):
    epoch: int
    position: int
    expires_at: float


def db_now(conn: Connection) -> Any:
    """The database's wall clock as epoch seconds (a SQL expression)."""
    if conn.dialect.name == "postgresql":
        return literal_column("extract(epoch from clock_timestamp())::double precision")
    return literal_column("((julianday('now') - 2440587.5) * 86400.0)")


def acquire(conn: Connection, name: str, holder: str, ttl: float) -> Held | None:
    """Take or renew the lease for `ttl` seconds; None while another holder's is unexpired."""
    now = db_now(conn)
    c = leases.c
    row = conn.execute(
        update(leases)
        .where(c.name == name, (c.holder == holder) | (c.expires_at < now))
        .values(expires_at=now + ttl, holder=holder,
                epoch=case((c.holder == holder, c.epoch), else_=c.epoch + 1))
        .returning(c.epoch, c.position, c.expires_at)
    ).first()
    if row is None:
        stmt = insert_for(conn, leases).values(name=name, holder=holder, expires_at=now + ttl, epoch=1, position=0)
        row = conn.execute(
            stmt.on_conflict_do_nothing(index_elements=["name"]).returning(c.epoch, c.position, c.expires_at)
        ).first()
    return None if row is None else Held(int(row[0]), int(row[1]), float(row[2]))


def renew(conn: Connection, name: str, holder: str, epoch: int, ttl: float) -> bool:
    """Extend the holder's lease of `epoch` by `ttl` (False: another holder took it)."""
    c = leases.c
    done = conn.execute(update(leases).where(c.name == name, c.holder == holder, c.epoch == epoch)
                        .values(expires_at=db_now(conn) + ttl))
    return bool(done.rowcount)


def release(conn: Connection, name: str, holder: str) -> None:
    """Let the next replica take over at once instead of after the expiry."""
    conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder)
                 .values(expires_at=0.0))


def advance(conn: Connection, name: str, holder: str, epoch: int, old: int, new: int) -> bool:
    """Move the position from `old` to `new`, fenced: False (then write nothing else in this
    transaction) if the lease changed hands or someone else moved the position meanwhile."""
    done = conn.execute(_ADVANCE, {"n": name, "h": holder, "e": epoch, "old": old, "new": new})
    return bool(done.rowcount)


# built once: building it per save (every ingest group saves) cost more than running it
_ADVANCE = (update(leases)
            .where(leases.c.name == bindparam("n"), leases.c.holder == bindparam("h"),
                   leases.c.epoch == bindparam("e"), leases.c.position == bindparam("old"))
            .values(position=bindparam("new")))


def read(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(leases).where(leases.c.name == name)).mappings().first()
    return dict(row) if row else None
