"""The migrations go up to head and back down cleanly."""

import psycopg
import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from chassis.app import ServiceApp
from chassis.migrations import alembic_config, upgrade_to_head
from chassis.testing.plugin import PostgresServer
from inventory.tables import metadata

DATABASE = "inventory_schema_test"
TABLES = {"stock_levels", "stock_adjustments", "reservations", "reservation_lines"}


def public_tables(server: PostgresServer) -> set[str]:
    with psycopg.connect(dbname=DATABASE, user="postgres", host=server.socket_dir) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in rows}


def test_migrations_upgrade_downgrade_and_upgrade_again(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)
    try:
        upgrade_to_head(url, service_app.migrations)
        assert TABLES | {"outbox", "idempotency_keys"} <= public_tables(postgres_server)
        command.downgrade(alembic_config(url, service_app.migrations), "base")
        assert public_tables(postgres_server) == {"alembic_version"}
        upgrade_to_head(url, service_app.migrations)

        with psycopg.connect(
            dbname=DATABASE, user="postgres", host=postgres_server.socket_dir
        ) as conn:
            rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
            indexes = {row[0] for row in rows}
            assert "reservations_pending_expiry_idx" in indexes
            assert "stock_adjustments_restock_once" in indexes  # revision 0002
    finally:
        postgres_server.drop_database(DATABASE)


def test_the_database_refuses_an_oversold_stock_level(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)
    try:
        upgrade_to_head(url, service_app.migrations)
        with (
            psycopg.connect(
                dbname=DATABASE, user="postgres", host=postgres_server.socket_dir
            ) as conn,
            pytest.raises(psycopg.errors.CheckViolation, match="stock_levels_reserved_held"),
        ):
            conn.execute(
                "INSERT INTO stock_levels (sku, on_hand, reserved, version, updated_at)"
                " VALUES ('KIT-KNIFE-1', 1, 2, 1, now())"
            )
    finally:
        postgres_server.drop_database(DATABASE)


def test_the_database_refuses_a_second_restock_of_a_reservation_line(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)
    reservation = "3a8f2c1d-5e6b-4a7c-9d0e-1f2a3b4c5d6e"
    restock = (
        "INSERT INTO stock_adjustments (sku, delta, reason, on_hand_after, version,"
        " reservation_id) VALUES ('KIT-KNIFE-1', 1, 'restock', 2, 2, %s)"
    )
    try:
        upgrade_to_head(url, service_app.migrations)
        with psycopg.connect(
            dbname=DATABASE, user="postgres", host=postgres_server.socket_dir
        ) as conn:
            conn.execute(
                "INSERT INTO stock_levels (sku, on_hand, reserved, version, updated_at)"
                " VALUES ('KIT-KNIFE-1', 2, 0, 1, now())"
            )
            conn.execute(
                "INSERT INTO reservations VALUES"
                " (%s, gen_random_uuid(), 'CONFIRMED', now(), now(), now(), 2)",
                (reservation,),
            )
            # Other adjustments carry no reservation: any number of them.
            for _ in range(2):
                conn.execute(
                    "INSERT INTO stock_adjustments (sku, delta, reason, on_hand_after, version)"
                    " VALUES ('KIT-KNIFE-1', 1, 'goods receipt', 2, 1)"
                )
            conn.execute(restock, (reservation,))
            with pytest.raises(
                psycopg.errors.UniqueViolation, match="stock_adjustments_restock_once"
            ):
                conn.execute(restock, (reservation,))
    finally:
        postgres_server.drop_database(DATABASE)


def test_the_tables_module_mirrors_the_migrated_schema(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)
    engine = create_engine(url)
    try:
        upgrade_to_head(url, service_app.migrations)
        migrated = inspect(engine)
        for table in metadata.tables.values():
            columns = {c["name"]: c for c in migrated.get_columns(table.name)}
            assert set(columns) == set(table.c.keys()), table.name
            for column in table.c:
                assert columns[column.name]["nullable"] == column.nullable, column
    finally:
        engine.dispose()
        postgres_server.drop_database(DATABASE)
