"""Schema migrations: the gate that keeps a service NOT_SERVING until its database is at
the revision its code expects, and the Alembic helpers for the chassis's own tables.

Each service owns its Alembic migrations in `services/<name>/migrations/`: its `env.py`
is `run_migrations()`, its first revision calls `create_chassis_tables(op)` (and its
downgrade `drop_chassis_tables(op)`); `python -m <service> migrate` runs
`upgrade_to_head()`.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic import context as alembic_context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Table, create_engine, text
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


# Two instances migrating at once wait for each other instead of racing on DDL. Locks are
# per database, so one constant serves every service.
MIGRATION_LOCK_ID = 0x5C0A7A106


def alembic_config(database_url: str, migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    # ConfigParser interpolates '%', which appears in URL-encoded passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str, migrations_dir: Path) -> None:
    command.upgrade(alembic_config(database_url, migrations_dir), "head")


def run_migrations() -> None:
    """The whole of a service's migrations/env.py: runs its hand-written migrations (no
    autogenerate) in one transaction over a plain psycopg connection, holding the lock."""
    url = alembic_context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set (python -m <service> migrate sets it)")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            alembic_context.configure(connection=connection, transactional_ddl=True)
            with alembic_context.begin_transaction():
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                alembic_context.run_migrations()
    finally:
        engine.dispose()


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
