"""Property: whatever callers send, in whatever order, with lost processor answers, retries
and replays, the books balance (Hypothesis, in memory; the Postgres twin is in
tests/integration/test_payments_ledger_on_postgres.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from payments_examples import PROPERTIES
from payments_fakes import in_memory_uow
from payments_scenarios import Operation, Player, check_books, operations

from payments.simulated_processor import SimulatedProcessor

pytestmark = pytest.mark.anyio


@PROPERTIES
@given(script=operations)
async def test_the_ledger_balances_and_agrees_with_the_processor_after_any_sequence(
    script: list[Operation],
) -> None:
    uow, processor = in_memory_uow(), SimulatedProcessor()
    player = Player(lambda: uow, processor)

    await player.play(script)

    ledger = uow.repos.ledger
    check_books(
        await player.payments(),
        {p: ledger.balances(p) for p in player.payment_ids},
        ledger.totals_by_currency(),
        processor,
    )
