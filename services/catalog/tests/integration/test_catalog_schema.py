"""The migrations go up to head and back down cleanly."""

import psycopg
from alembic import command

from chassis.app import ServiceApp
from chassis.migrations import alembic_config, upgrade_to_head
from chassis.testing.plugin import PostgresServer

DATABASE = "catalog_schema_test"


def public_tables(server: PostgresServer) -> set[str]:
    with psycopg.connect(dbname=DATABASE, user="postgres", host=server.socket_dir) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_migrations_upgrade_downgrade_and_upgrade_again(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)

    upgrade_to_head(url, service_app.migrations)
    assert {"products", "outbox", "idempotency_keys"} <= public_tables(postgres_server)
    command.downgrade(alembic_config(url, service_app.migrations), "base")
    assert public_tables(postgres_server) == {"alembic_version"}
    upgrade_to_head(url, service_app.migrations)

    with psycopg.connect(dbname=DATABASE, user="postgres", host=postgres_server.socket_dir) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'products'")
        indexes = {row[0] for row in rows}
    assert {"products_search_idx", "products_categories_idx"} <= indexes
