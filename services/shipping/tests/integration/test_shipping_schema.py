"""The migrations go up to head and back down cleanly."""

import psycopg
from alembic import command

from chassis.app import ServiceApp
from chassis.migrations import alembic_config, upgrade_to_head
from chassis.testing.plugin import PostgresServer

DATABASE = "shipping_schema_test"


def query(server: PostgresServer, sql: str) -> set[str]:
    with psycopg.connect(dbname=DATABASE, user="postgres", host=server.socket_dir) as conn:
        return {row[0] for row in conn.execute(sql)}


def test_migrations_upgrade_downgrade_and_upgrade_again(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    tables = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    url = postgres_server.create_database(DATABASE)
    try:
        upgrade_to_head(url, service_app.migrations)
        assert {"shipments", "shipment_lines", "outbox", "idempotency_keys"} <= query(
            postgres_server, tables
        )
        command.downgrade(alembic_config(url, service_app.migrations), "base")
        assert query(postgres_server, tables) == {"alembic_version"}
        upgrade_to_head(url, service_app.migrations)

        indexes = query(
            postgres_server, "SELECT indexname FROM pg_indexes WHERE tablename = 'shipments'"
        )
        assert {"shipments_one_live_per_order", "shipments_pending_by_due_time"} <= indexes
    finally:
        postgres_server.drop_database(DATABASE)
