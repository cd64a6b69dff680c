"""Payments' use cases against a real Postgres: what each command stores, posts to the
ledger and puts in the outbox, and what a lost processor answer leaves behind."""

from __future__ import annotations

import protovalidate
import pytest
from payments_examples import UnitsOfWork, after_lost_answers, authorization, new_key
from sqlalchemy import text

from chassis.db import Database
from chassis.testing import outbox_events
from payments import service
from payments.domain import (
    CaptureRequest,
    Money,
    PaymentNotFound,
    PaymentStatus,
    ProcessorUnavailable,
    RefundRequest,
    VoidRequest,
)
from payments.ledger import Account
from payments.repository import LedgerRepository
from payments.simulated_processor import SimulatedProcessor
from shop.payments.v1 import events_pb2

pytestmark = pytest.mark.anyio


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


async def ledger_of(db: Database, payment_id: str) -> dict[Account, int]:
    async with db.transaction() as conn:
        return await LedgerRepository(conn).balances(payment_id)


async def ledger_totals(db: Database) -> dict[str, int]:
    async with db.transaction() as conn:
        return await LedgerRepository(conn).totals_by_currency()


async def count(db: Database, table: str) -> int:
    async with db.transaction() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_a_payments_life_is_stored_posted_and_published_in_order(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    authorized = await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization()
    )
    pid = authorized.payment_id
    captured = await service.capture_payment(
        uow(),
        processor,
        idempotency_key=new_key(),
        request=CaptureRequest(pid, Money("EUR", 9_000)),
    )
    partly = await service.refund_payment(
        uow(),
        processor,
        idempotency_key=new_key(),
        request=RefundRequest(pid, Money("EUR", 2_000), "one mug broke"),
    )
    fully = await service.refund_payment(
        uow(), processor, idempotency_key=new_key(), request=RefundRequest(pid, None, "")
    )

    assert [p.version for p in (authorized, captured, partly, fully)] == [1, 2, 3, 4]
    assert fully.status is PaymentStatus.REFUNDED
    assert await service.get_payment(uow(), pid) == fully
    assert (
        await ledger_of(db, pid)
        == fully.ledger_balances()
        == {
            Account.CUSTOMER_CARDS: 0,
            Account.AUTHORIZATION_HOLDS: 0,
            Account.PROCESSOR_SETTLEMENT: 0,
        }
    )
    assert await ledger_totals(db) == {"EUR": 0}
    assert await count(db, "ledger_entries") == 2 + 3 + 2 + 2  # capture also releases 10.00

    events = await outbox_events(db, aggregate=f"payments/{pid}")
    assert [e.subject for e in events] == [
        "payments.payment.authorized",
        "payments.payment.captured",
        "payments.payment.refunded",
        "payments.payment.refunded",
    ]
    for event in events:  # what consumers check before anything else
        protovalidate.validate(event.envelope)
        protovalidate.validate(event.data)
    captured_event = events[1].data
    assert isinstance(captured_event, events_pb2.PaymentCaptured)
    assert (
        captured_event.captured_amount.amount_minor,
        captured_event.authorized_amount.amount_minor,
    ) == (
        9_000,
        10_000,
    )
    last = events[3].data
    assert isinstance(last, events_pb2.PaymentRefunded)
    assert (last.refund_amount.amount_minor, last.total_refunded_amount.amount_minor) == (
        7_000,
        9_000,
    )


async def test_a_decline_is_stored_and_published_with_no_ledger_entry(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    declined = await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization("tok_expired_card")
    )

    assert await service.get_payment(uow(), declined.payment_id) == declined
    assert await count(db, "ledger_entries") == 0
    [event] = await outbox_events(db)
    assert isinstance(event.data, events_pb2.PaymentDeclined)
    protovalidate.validate(event.data)


async def test_a_void_releases_the_hold_in_the_ledger(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    authorized = await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization()
    )
    assert (await ledger_of(db, authorized.payment_id))[Account.AUTHORIZATION_HOLDS] == 10_000

    voided = await service.void_authorization(
        uow(),
        processor,
        idempotency_key=new_key(),
        request=VoidRequest(authorized.payment_id, "out of stock"),
    )

    assert voided.status is PaymentStatus.VOIDED
    assert await ledger_of(db, authorized.payment_id) == voided.ledger_balances()
    assert (await ledger_of(db, authorized.payment_id))[Account.AUTHORIZATION_HOLDS] == 0
    event = (await outbox_events(db))[-1].data
    assert isinstance(event, events_pb2.PaymentVoided)
    protovalidate.validate(event)
    assert (event.released_amount.amount_minor, event.reason) == (10_000, "out of stock")


async def test_a_lost_processor_answer_commits_nothing_and_the_retry_charges_once(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    key, capture_key, request = new_key(), new_key(), authorization("tok_flaky")
    with pytest.raises(ProcessorUnavailable):
        await service.authorize_payment(uow(), processor, idempotency_key=key, request=request)
    assert [await count(db, t) for t in ("payments", "idempotency_keys", "outbox")] == [0, 0, 0]

    payment = await service.authorize_payment(
        uow(), processor, idempotency_key=key, request=request
    )
    captured = await after_lost_answers(
        lambda: service.capture_payment(
            uow(),
            processor,
            idempotency_key=capture_key,
            request=CaptureRequest(payment.payment_id, None),
        )
    )

    [held] = processor.authorizations()
    assert held.reference == payment.processor_reference
    assert (held.captured, captured.captured.amount_minor) == (10_000, 10_000)
    assert len(await outbox_events(db)) == 2


async def test_the_payment_token_is_stored_nowhere(
    uow: UnitsOfWork, db: Database, processor: SimulatedProcessor
) -> None:
    token = "tok_visa"
    await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization(token)
    )

    async with db.transaction() as conn:
        tables = await conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        )
        dumps = [
            await conn.scalar(text(f"SELECT coalesce(string_agg(t::text, ','), '') FROM {name} t"))
            for name in tables
        ]
    assert dumps  # the payment, its ledger, its key and its event are in there
    assert not [d for d in dumps if token in d or token.encode().hex() in d]


async def test_an_unknown_payment_is_not_found(uow: UnitsOfWork, db: Database) -> None:
    with pytest.raises(PaymentNotFound) as raised:
        await service.get_payment(uow(), "5f0c0f7e-0000-4000-8000-000000000000")
    assert raised.value.metadata == {"payment_id": "5f0c0f7e-0000-4000-8000-000000000000"}
