"""Migration 0002 on a database that already holds orders: the order history starts from
them, and the revision goes down and up again cleanly."""

from __future__ import annotations

import json

import psycopg
from alembic import command

from chassis.app import ServiceApp
from chassis.migrations import alembic_config, upgrade_to_head
from chassis.testing.plugin import PostgresServer

DATABASE = "orders_schema_test"
LINES = [
    {
        "sku": "SKU-1",
        "name": "Mug",
        "quantity": 2,
        "unit_price": {"currency": "EUR", "minor": 1250},
    },
    {"sku": "SKU-2", "name": "Cup", "quantity": 1, "unit_price": {"currency": "EUR", "minor": 700}},
]


def test_the_history_is_seeded_from_the_orders_stored_before_it(
    postgres_server: PostgresServer, service_app: ServiceApp
) -> None:
    url = postgres_server.create_database(DATABASE)
    config = alembic_config(url, service_app.migrations)
    command.upgrade(config, "0001")
    connect = {"dbname": DATABASE, "user": "postgres", "host": postgres_server.socket_dir}
    with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
        conn.execute(
            "INSERT INTO orders VALUES ('o-1', 'alice', 2, %s, 'EUR', 500, '{}', 1, NULL, '',"
            " 'p-1', 'r-1', 's-1', '', now(), now(), 6)",
            [json.dumps(LINES)],
        )

    upgrade_to_head(url, service_app.migrations)
    with psycopg.connect(**connect) as conn:  # type: ignore[arg-type]
        row = conn.execute(
            "SELECT customer_id, status, order_version, total_currency, total_minor,"
            " payment_status, delivery_status, payment_id, shipment_id FROM order_history"
        ).fetchall()
    assert row == [("alice", 2, 6, "EUR", 2 * 1250 + 700 + 500, 1, 1, "p-1", "s-1")]

    command.downgrade(config, "0001")
    upgrade_to_head(url, service_app.migrations)
