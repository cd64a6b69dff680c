"""Commands racing on one payment, against a real Postgres: the payment's row lock makes
them decide one after the other, so captures never exceed the authorization and refunds
never exceed the capture, whatever the interleaving."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from payments_examples import UnitsOfWork, authorization, new_key

from chassis.db import Database
from chassis.domain import DomainError
from payments import service
from payments.domain import (
    CaptureRequest,
    Money,
    Payment,
    PaymentAlreadyCaptured,
    PaymentStatus,
    RefundExceedsCapture,
    RefundRequest,
    VoidRequest,
)
from payments.repository import LedgerRepository
from payments.simulated_processor import SimulatedProcessor

pytestmark = pytest.mark.anyio


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


async def race(*commands: Awaitable[Payment]) -> tuple[list[Payment], list[DomainError]]:
    """Runs the commands at once; what succeeded and what was refused."""
    results = await asyncio.gather(*commands, return_exceptions=True)
    won = [r for r in results if isinstance(r, Payment)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(won) + len(refused) == len(results), results  # nothing else went wrong
    return won, refused


async def authorized(uow: UnitsOfWork, processor: SimulatedProcessor) -> Payment:
    return await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization()
    )


async def books_balance(db: Database, payment: Payment) -> bool:
    async with db.transaction() as conn:
        ledger = LedgerRepository(conn)
        totals = await ledger.totals_by_currency()
        return set(totals.values()) == {0} and (
            await ledger.balances(payment.payment_id) == payment.ledger_balances()
        )


async def test_of_concurrent_captures_exactly_one_wins(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    payment = await authorized(uow, processor)

    won, refused = await race(
        *(
            service.capture_payment(
                uow(),
                processor,
                idempotency_key=new_key(),
                request=CaptureRequest(payment.payment_id, Money("EUR", 4_000 + n)),
            )
            for n in range(6)
        )
    )

    assert len(won) == 1
    assert all(isinstance(r, PaymentAlreadyCaptured) for r in refused)
    stored = await service.get_payment(uow(), payment.payment_id)
    assert stored == won[0]
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.captured == stored.captured.amount_minor
    assert await books_balance(db, stored)


async def test_concurrent_refunds_never_exceed_the_capture(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    payment = await service.capture_payment(
        uow(),
        processor,
        idempotency_key=new_key(),
        request=CaptureRequest((await authorized(uow, processor)).payment_id, None),
    )

    won, refused = await race(
        *(
            service.refund_payment(
                uow(),
                processor,
                idempotency_key=new_key(),
                request=RefundRequest(payment.payment_id, Money("EUR", 3_000), ""),
            )
            for _ in range(8)
        )
    )

    assert len(won) == 3  # 3 x 30.00 of 100.00; a fourth would exceed it
    assert all(isinstance(r, RefundExceedsCapture) for r in refused)
    stored = await service.get_payment(uow(), payment.payment_id)
    assert (stored.status, stored.refunded) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        Money("EUR", 9_000),
    )
    assert sorted(p.version for p in won) == [3, 4, 5]
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.refunded == 9_000
    assert await books_balance(db, stored)


async def test_a_capture_racing_a_void_one_of_them_wins(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    payment = await authorized(uow, processor)

    won, refused = await race(
        service.capture_payment(
            uow(),
            processor,
            idempotency_key=new_key(),
            request=CaptureRequest(payment.payment_id, None),
        ),
        service.void_authorization(
            uow(), processor, idempotency_key=new_key(), request=VoidRequest(payment.payment_id, "")
        ),
    )

    stored = await service.get_payment(uow(), payment.payment_id)
    assert won == [stored]
    assert len(refused) == 1
    assert stored.status in {PaymentStatus.CAPTURED, PaymentStatus.VOIDED}
    assert await books_balance(db, stored)


async def test_concurrent_retries_of_one_authorization_make_one_payment(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    key, request = new_key(), authorization()

    won, refused = await race(
        *(
            service.authorize_payment(uow(), processor, idempotency_key=key, request=request)
            for _ in range(5)
        )
    )

    assert (len({p.payment_id for p in won}), refused) == (1, [])
    assert len(processor.authorizations()) == 1
    assert await books_balance(db, won[0])
