"""Alembic environment: runs the catalog's migrations over a plain (sync) psycopg connection.

The URL comes from the Alembic config (`python -m catalog migrate` sets it from
SHOP_DATABASE_URL). Migrations are written by hand, so there is no autogenerate metadata.
"""

from alembic import context
from sqlalchemy import create_engine, text

# Two instances migrating at once wait for each other instead of racing on DDL.
MIGRATION_LOCK_ID = 0x5C0A7A106  # any constant unique within this database


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set (python -m catalog migrate sets it)"
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, transactional_ddl=True)
            with context.begin_transaction():
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations_online()
