"""The migrations go up to head and back down cleanly, and the database itself keeps the
ledger honest: a movement that does not sum to zero does not commit, entries never change."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command
from payments_examples import authorized_payment
from sqlalchemy import delete, exc, insert, update

from chassis.app import ServiceApp
from chassis.db import Database
from chassis.migrations import alembic_config, upgrade_to_head
from chassis.testing.plugin import PostgresServer
from payments import ledger
from payments.domain import Payment
from payments.repository import LedgerRepository, PaymentRepository
from payments.tables import ledger_entries

DATABASE = "payments_schema_test"


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
        assert public_tables(postgres_server) == {
            "alembic_version",
            "payments",
            "ledger_entries",
            "idempotency_keys",
            "outbox",
        }
        command.downgrade(alembic_config(url, service_app.migrations), "base")
        assert public_tables(postgres_server) == {"alembic_version"}
        upgrade_to_head(url, service_app.migrations)
    finally:
        postgres_server.drop_database(DATABASE)


@pytest.mark.anyio
async def test_an_unbalanced_movement_does_not_commit(db: Database) -> None:
    payment = authorized_payment()
    async with db.transaction() as conn:
        await PaymentRepository(conn).save(payment)

    with pytest.raises(exc.IntegrityError, match="sums to -1, not zero"):
        async with db.transaction() as conn:
            await conn.execute(
                insert(ledger_entries),
                [
                    _entry(payment, "customer_cards", -10_000),
                    _entry(payment, "authorization_holds", 9_999),
                ],
            )


@pytest.mark.anyio
async def test_ledger_entries_are_append_only(db: Database) -> None:
    payment = authorized_payment()
    async with db.transaction() as conn:
        await PaymentRepository(conn).save(payment)
        await LedgerRepository(conn).post(
            ledger.authorization(
                ledger.Origin(payment.payment_id, 1, "EUR", payment.created_at), 10_000
            )
        )

    for statement in (update(ledger_entries).values(amount_minor=1), delete(ledger_entries)):
        with pytest.raises(exc.IntegrityError, match="append-only"):
            async with db.transaction() as conn:
                await conn.execute(statement)


def _entry(payment: Payment, account: str, amount_minor: int) -> dict[str, object]:
    return {
        "payment_id": payment.payment_id,
        "version": payment.version,
        "account": account,
        "kind": "authorization",
        "currency": payment.currency,
        "amount_minor": amount_minor,
        "posted_at": payment.created_at,
    }
