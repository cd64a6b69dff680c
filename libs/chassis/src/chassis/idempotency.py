"""One outcome per idempotency key: a retried call returns what the first call returned,
and its work runs once.

The key is claimed by inserting it in the caller's transaction before the work runs. A
concurrent call with the same key blocks on that row until the first transaction ends:
after a commit it finds the stored response; after a rollback it claims the key itself.
A call that fails leaves no key behind, so its retry runs the work again.
"""

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import SchemaItem

from chassis.errors import AlreadyExists

M = TypeVar("M", bound=Message)

TABLE_NAME = "idempotency_keys"


def idempotency_schema() -> list[SchemaItem]:
    """Fresh columns of the idempotency table (for Table() and op.create_table())."""
    return [
        Column("key", Uuid(as_uuid=False), primary_key=True),
        Column("method", Text, nullable=False),
        Column("request_hash", LargeBinary, nullable=False),
        Column("response", LargeBinary),  # set in the same transaction as the claim
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def idempotency_table(metadata: MetaData) -> Table:
    """The `idempotency_keys` table, for a service's tables module."""
    return Table(TABLE_NAME, metadata, *idempotency_schema())


_keys = idempotency_table(MetaData())


async def run_once(  # noqa: PLR0913 - keyword-only, each one needed
    conn: AsyncConnection,
    *,
    key: str,
    method: str,
    request: Message,
    response_type: type[M],
    work: Callable[[], Awaitable[M]],
) -> M:
    """Runs `work` unless `key` was used before; stores and returns its response.

    The same key with the same method and request returns the stored response; with a
    different one raises AlreadyExists(reason="IDEMPOTENCY_KEY_REUSED").
    """
    request_hash = hashlib.sha256(request.SerializeToString(deterministic=True)).digest()
    claimed = await conn.scalar(
        insert(_keys)
        .values(key=key, method=method, request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=[_keys.c.key])
        .returning(_keys.c.key)
    )
    if claimed is None:
        row = (
            await conn.execute(
                select(_keys.c.method, _keys.c.request_hash, _keys.c.response).where(
                    _keys.c.key == key
                )
            )
        ).one()
        if row.method != method or row.request_hash != request_hash:
            raise AlreadyExists(
                "the idempotency key was used before with a different request",
                reason="IDEMPOTENCY_KEY_REUSED",
                metadata={"idempotency_key": key},
            )
        return response_type.FromString(row.response)
    response = await work()
    await conn.execute(
        update(_keys).where(_keys.c.key == key).values(response=response.SerializeToString())
    )
    return response
