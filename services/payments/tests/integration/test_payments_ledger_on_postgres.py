"""Property, on Postgres: whatever callers send, in whatever order, with lost processor
answers, retries and replays, the ledger table sums to zero per currency, each payment's
entries hold what the payment says, and the processor agrees (Hypothesis; fewer examples
than in memory, each runs real transactions)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from payments_examples import PROPERTIES, UnitsOfWork
from payments_scenarios import Operation, Player, check_books, operations

from chassis.db import Database
from payments.repository import LedgerRepository
from payments.simulated_processor import SimulatedProcessor

pytestmark = pytest.mark.anyio


# Examples share the test's database: each works on payments of its own, and the totals
# per currency must be zero over all of them anyway.
@settings(PROPERTIES, max_examples=25)
@given(script=operations)
async def test_the_ledger_table_balances_after_any_sequence(
    uow: UnitsOfWork, db: Database, script: list[Operation]
) -> None:
    processor = SimulatedProcessor()
    player = Player(uow, processor)

    await player.play(script)

    async with db.transaction() as conn:
        ledger = LedgerRepository(conn)
        balances = {p: await ledger.balances(p) for p in player.payment_ids}
        totals = await ledger.totals_by_currency()
    check_books(await player.payments(), balances, totals, processor)
