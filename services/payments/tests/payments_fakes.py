"""In-memory repositories for payments' use-case tests (chassis.testing.InMemoryUnitOfWork)."""

from __future__ import annotations

from chassis.testing import InMemoryUnitOfWork
from payments import ledger
from payments.domain import Payment
from payments.ledger import Account, Movement
from payments.repository import Repositories, StaleWrite


class InMemoryPayments:
    def __init__(self) -> None:
        self.saved: dict[str, Payment] = {}

    async def get(self, payment_id: str, *, for_update: bool = False) -> Payment | None:
        return self.saved.get(payment_id)  # one task at a time in memory: nothing to lock

    async def save(self, payment: Payment) -> None:
        stored = self.saved.get(payment.payment_id)
        if (0 if stored is None else stored.version) != payment.version - 1:
            raise StaleWrite(f"payment {payment.payment_id} is not at {payment.version - 1}")
        self.saved[payment.payment_id] = payment


class InMemoryLedger:
    def __init__(self) -> None:
        self.movements: list[Movement] = []

    async def post(self, movement: Movement) -> None:
        if any(m.origin == movement.origin for m in self.movements):
            raise AssertionError(f"movement {movement.origin} posted twice")
        self.movements.append(movement)

    def totals_by_currency(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (currency, _), balance in ledger.balances(self.movements).items():
            totals[currency] = totals.get(currency, 0) + balance
        return totals

    def balances(self, payment_id: str) -> dict[Account, int]:
        mine = [m for m in self.movements if m.origin.payment_id == payment_id]
        found = {account: total for (_, account), total in ledger.balances(mine).items()}
        return {account: found.get(account, 0) for account in Account}


class InMemoryRepositories(Repositories):
    """Repositories whose fakes the test can read back with their own types."""

    payments: InMemoryPayments
    ledger: InMemoryLedger


def in_memory_uow() -> InMemoryUnitOfWork[InMemoryRepositories]:
    return InMemoryUnitOfWork(InMemoryRepositories(InMemoryPayments(), InMemoryLedger()))
