"""Payments and their ledger in Postgres: rows to domain objects and back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import Query, execute, execute_many, fetch
from payments.domain import DeclineReason, Money, Payment, PaymentStatus
from payments.ledger import Account, Movement
from payments.tables import ledger_entries, payments

_COLUMNS = [c.name for c in payments.c]
# Every authorize, capture, void and refund runs these (the saga's hot path): compiled once,
# run on the driver. UUID columns come back as uuid.UUID from the driver.
_GET = Query(select(payments).where(payments.c.payment_id == bindparam("payment_id")))
_LOCK = Query(
    select(payments).where(payments.c.payment_id == bindparam("payment_id")).with_for_update()
)
_ADD = Query(insert(payments).values({name: bindparam(name) for name in _COLUMNS}))
_SAVE = Query(
    update(payments)
    .where(payments.c.payment_id == bindparam("payment_id"))
    .where(payments.c.version == bindparam("previous_version"))
    .values({name: bindparam(name) for name in _COLUMNS if name != "payment_id"})
)
_POST = Query(insert(ledger_entries).values({c.name: bindparam(c.name) for c in ledger_entries.c}))


class Payments(Protocol):
    """The payments, as the use cases need them (PaymentRepository in Postgres; tests have
    an in-memory one)."""

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        """The payment; with for_update, locked until the transaction ends, so concurrent
        commands on one payment decide one after the other, each on the latest version."""
        ...

    async def save(self, payment: Payment) -> None:
        """Stores a new payment (version 1) or the next version of a stored one."""
        ...


class Ledger(Protocol):
    async def post(self, movement: Movement) -> None: ...


class StaleWrite(RuntimeError):
    """A save that did not follow the stored version: the caller did not hold the lock."""


@dataclass(frozen=True)
class Repositories:
    """What a payments unit of work gives its use case."""

    payments: Payments
    ledger: Ledger

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(PaymentRepository(conn), LedgerRepository(conn))


class PaymentRepository:
    """Reads and writes payments inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        query = _LOCK if for_update else _GET
        rows = await fetch(self._conn, query, {"payment_id": payment_id})
        return _payment(rows[0]) if rows else None

    async def save(self, payment: Payment) -> None:
        values = _row(payment)
        if payment.version == 1:
            await execute(self._conn, _ADD, values)
            return
        changed = await execute(
            self._conn, _SAVE, {**values, "previous_version": payment.version - 1}
        )
        if changed != 1:
            raise StaleWrite(
                f"payment {payment.payment_id} is not at version {payment.version - 1}"
            )


class LedgerRepository:
    """Posts movements inside the caller's transaction (the database checks at commit that
    each sums to zero), and reads balances for checks and tests."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def post(self, movement: Movement) -> None:
        origin = movement.origin
        await execute_many(
            self._conn,
            _POST,
            [
                {
                    "payment_id": origin.payment_id,
                    "version": origin.version,
                    "account": posting.account.value,
                    "kind": movement.kind.value,
                    "currency": origin.currency,
                    "amount_minor": posting.amount_minor,
                    "posted_at": origin.at,
                }
                for posting in movement.postings
            ],
        )

    async def totals_by_currency(self) -> dict[str, int]:
        """Every entry summed per currency: zero for each, or the books do not balance."""
        rows = await self._conn.execute(
            select(ledger_entries.c.currency, func.sum(ledger_entries.c.amount_minor)).group_by(
                ledger_entries.c.currency
            )
        )
        return {currency: int(total) for currency, total in rows.all()}

    async def balances(self, payment_id: str) -> dict[Account, int]:
        """The payment's balance in every account (zero where it has no entries)."""
        rows = await self._conn.execute(
            select(ledger_entries.c.account, func.sum(ledger_entries.c.amount_minor))
            .where(ledger_entries.c.payment_id == payment_id)
            .group_by(ledger_entries.c.account)
        )
        found = {Account(account): int(total) for account, total in rows.all()}
        return {account: found.get(account, 0) for account in Account}


def _row(payment: Payment) -> dict[str, object]:
    return {
        "payment_id": payment.payment_id,
        "order_id": payment.order_id,
        "customer_id": payment.customer_id,
        "status": payment.status.value,
        "currency": payment.currency,
        "authorized_minor": payment.authorized.amount_minor,
        "captured_minor": payment.captured.amount_minor,
        "refunded_minor": payment.refunded.amount_minor,
        "decline_reason": None if payment.decline_reason is None else payment.decline_reason.value,
        "processor_reference": payment.processor_reference,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "version": payment.version,
    }


def _payment(row: Sequence[Any]) -> Payment:
    """A payment from a row of the payments table, in its column order."""
    (
        payment_id,
        order_id,
        customer_id,
        status,
        currency,
        authorized_minor,
        captured_minor,
        refunded_minor,
        decline_reason,
        processor_reference,
        created_at,
        updated_at,
        version,
    ) = row
    return Payment(
        payment_id=str(payment_id),
        order_id=order_id,
        customer_id=customer_id,
        status=PaymentStatus(status),
        authorized=Money(currency, authorized_minor),
        captured=Money(currency, captured_minor),
        refunded=Money(currency, refunded_minor),
        decline_reason=None if decline_reason is None else DeclineReason(decline_reason),
        processor_reference=processor_reference,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
    )
