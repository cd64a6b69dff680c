"""Schema migrations: the gate that keeps a service NOT_SERVING until its database is at
the revision its code expects, and the Alembic helpers for the chassis's own tables.

Each service owns its Alembic migrations; its first revision calls
`create_chassis_tables(op)` (and its downgrade `drop_chassis_tables(op)`).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic.script import ScriptDirectory
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import SchemaItem

from chassis import idempotency, outbox


class SchemaOperations(Protocol):
    """What the helpers use of Alembic's `op` (the module a migration imports)."""

    def create_table(self, table_name: str, *columns: SchemaItem, **kw: Any) -> Table: ...

    def drop_table(self, table_name: str, **kw: Any) -> None: ...


def create_chassis_tables(op: SchemaOperations) -> None:
    """Creates the idempotency_keys and outbox tables (and the outbox's index)."""
    op.create_table(idempotency.TABLE_NAME, *idempotency.idempotency_schema())
    op.create_table(outbox.TABLE_NAME, *outbox.outbox_schema())


def drop_chassis_tables(op: SchemaOperations) -> None:
    op.drop_table(outbox.TABLE_NAME)
    op.drop_table(idempotency.TABLE_NAME)


@dataclass(frozen=True)
class SchemaRevision:
    current: tuple[str, ...]
    """What the database's alembic_version holds; empty when it was never migrated."""
    expected: tuple[str, ...]
    """The head(s) of the service's migration scripts."""

    @property
    def at_head(self) -> bool:
        return self.current == self.expected

    def __str__(self) -> str:
        current = ", ".join(self.current) or "unmigrated"
        return f"database at {current}, code expects {', '.join(self.expected)}"


class MigrationGate:
    """Compares the database's Alembic revision with the head of the migration scripts."""

    def __init__(self, database_url: str, script_location: str | Path) -> None:
        # The scripts do not change while the process runs: read the head once.
        self.expected = tuple(sorted(ScriptDirectory(str(script_location)).get_heads()))
        # Checks are rare and stop once the schema is at head: no pool to keep.
        self._engine = create_async_engine(database_url, poolclass=NullPool)

    async def check(self) -> SchemaRevision:
        """Reads the database's revision; raises if the database cannot be reached."""
        async with self._engine.connect() as conn:
            if await conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
                current: tuple[str, ...] = ()
            else:
                rows = await conn.scalars(text("SELECT version_num FROM alembic_version"))
                current = tuple(sorted(rows))
        return SchemaRevision(current=current, expected=self.expected)

    async def close(self) -> None:
        await self._engine.dispose()
