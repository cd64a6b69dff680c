"""One outcome per idempotency key: a retried command returns what the first one returned,
and its work runs once.

The unit of work claims the key by inserting it in its transaction before the work runs,
and stores the outcome in the same transaction. A concurrent command with the same key
blocks on that row until the first transaction ends: after a commit it finds the stored
outcome; after a rollback it claims the key itself. A command that fails leaves no key
behind, so its retry runs the work again.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import SchemaItem

from chassis.db import Query, execute, fetch
from chassis.domain import IdempotencyKeyReused

TABLE_NAME = "idempotency_keys"


def idempotency_schema() -> list[SchemaItem]:
    """Fresh columns of the idempotency table (for Table() and op.create_table())."""
    return [
        Column("key", Uuid(as_uuid=False), primary_key=True),
        # What the key was used for: the command's request type, e.g. "catalog.domain.X".
        Column("method", Text, nullable=False),
        Column("request_hash", LargeBinary, nullable=False),
        Column("response", LargeBinary),  # the outcome, set in the claim's transaction
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_keys` table, for a service's tables module."""
    return Table(TABLE_NAME, metadata, *idempotency_schema())


_keys = idempotency_table(MetaData())
# Every command runs these: compiled once, run on the driver (chassis.db.Query).
_CLAIM = Query(
    insert(_keys)
    .values(key=bindparam("key"), method=bindparam("method"), request_hash=bindparam("hash"))
    .on_conflict_do_nothing(index_elements=[_keys.c.key])
    .returning(_keys.c.key)
)
_STORED = Query(
    select(_keys.c.method, _keys.c.request_hash, _keys.c.response).where(
        _keys.c.key == bindparam("key")
    )
)
_RECORD = Query(
    update(_keys).where(_keys.c.key == bindparam("key")).values(response=bindparam("outcome"))
)


async def claim(
    conn: AsyncConnection, *, key: str, operation: str, request_hash: bytes
) -> bytes | None:
    """Claims `key` for this transaction (None), or returns the outcome stored by the
    command that used it first. Raises IdempotencyKeyReused when that command was a
    different one."""
    params = {"key": key, "method": operation, "hash": request_hash}
    if await fetch(conn, _CLAIM, params):
        return None
    ((method, stored_hash, response),) = await fetch(conn, _STORED, {"key": key})
    if method != operation or stored_hash != request_hash:
        raise IdempotencyKeyReused(
            "the idempotency key was used before with a different request",
            metadata={"idempotency_key": key},
        )
    stored: bytes = response
    return stored


async def record(conn: AsyncConnection, *, key: str, outcome: bytes) -> None:
    """Stores the outcome of the command that claimed `key`."""
    await execute(conn, _RECORD, {"key": key, "outcome": outcome})
