"""The migrations go up to head and back down cleanly."""

import psycopg
from alembic import command
from catalog_testing import create_database

from catalog.schema import alembic_config, upgrade_to_head

DATABASE = "catalog_schema_test"


def public_tables(socket_dir: str) -> set[str]:
    with psycopg.connect(dbname=DATABASE, user="postgres", host=socket_dir) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_migrations_upgrade_downgrade_and_upgrade_again(postgres_socket_dir: str) -> None:
    url = create_database(postgres_socket_dir, DATABASE)

    upgrade_to_head(url)
    assert {"products", "outbox", "idempotency_keys"} <= public_tables(postgres_socket_dir)
    command.downgrade(alembic_config(url), "base")
    assert public_tables(postgres_socket_dir) == {"alembic_version"}
    upgrade_to_head(url)

    with psycopg.connect(dbname=DATABASE, user="postgres", host=postgres_socket_dir) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'products'")
        indexes = {row[0] for row in rows}
    assert {"products_search_idx", "products_categories_idx"} <= indexes
