"""Payments and their ledger in Postgres: rows to domain objects and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.domain import DeclineReason, Money, Payment, PaymentStatus
from payments.ledger import Account, Movement
from payments.tables import ledger_entries, payments


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
        query = select(payments).where(payments.c.payment_id == payment_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _payment(row)

    async def save(self, payment: Payment) -> None:
        values = _row(payment)
        if payment.version == 1:
            await self._conn.execute(insert(payments).values(values))
            return
        changed = await self._conn.execute(
            update(payments)
            .where(payments.c.payment_id == payment.payment_id)
            .where(payments.c.version == payment.version - 1)
            .values(values)
        )
        if changed.rowcount != 1:
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
        await self._conn.execute(
            insert(ledger_entries),
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


def _payment(row: Row[Any]) -> Payment:
    r = row._mapping
    currency = r["currency"]
    return Payment(
        payment_id=r["payment_id"],
        order_id=r["order_id"],
        customer_id=r["customer_id"],
        status=PaymentStatus(r["status"]),
        authorized=Money(currency, r["authorized_minor"]),
        captured=Money(currency, r["captured_minor"]),
        refunded=Money(currency, r["refunded_minor"]),
        decline_reason=None if r["decline_reason"] is None else DeclineReason(r["decline_reason"]),
        processor_reference=r["processor_reference"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        version=r["version"],
    )
