"""Payments' part in a cancelled order (choreographed): void what is held, refund what was
taken, once per event however often it is delivered."""

from __future__ import annotations

import pytest
from payments_examples import EUR_100, after_lost_answers, authorization, cancellation, new_key
from payments_fakes import InMemoryRepositories, in_memory_uow

from chassis.testing import InMemoryUnitOfWork
from payments import events, service
from payments.domain import (
    CaptureRequest,
    Money,
    OrderCancellation,
    Payment,
    PaymentNotFound,
    PaymentOrderMismatch,
    PaymentStatus,
    ProcessorUnavailable,
    RefundRequest,
)
from payments.service import CancellationAction, CancellationOutcome
from payments.simulated_processor import SimulatedProcessor
from shop.common.v1 import money_pb2
from shop.orders.v1 import events_pb2 as orders_events
from shop.payments.v1 import events_pb2

pytestmark = pytest.mark.anyio

Uow = InMemoryUnitOfWork[InMemoryRepositories]


@pytest.fixture
def uow() -> Uow:
    return in_memory_uow()


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


async def authorized(uow: Uow, processor: SimulatedProcessor, token: str = "tok_visa") -> Payment:
    return await service.authorize_payment(
        uow, processor, idempotency_key=new_key(), request=authorization(token)
    )


async def captured(uow: Uow, processor: SimulatedProcessor, token: str = "tok_visa") -> Payment:
    payment = await authorized(uow, processor, token)
    return await service.capture_payment(
        uow, processor, idempotency_key=new_key(), request=CaptureRequest(payment.payment_id, None)
    )


async def cancel(
    uow: Uow, processor: SimulatedProcessor, payment_id: str | None, event_id: str = ""
) -> CancellationOutcome:
    return await service.refund_or_void_cancelled_order(
        uow, processor, event_id=event_id or new_key(), cancellation=cancellation(payment_id)
    )


async def test_an_authorized_payment_is_voided(uow: Uow, processor: SimulatedProcessor) -> None:
    payment = await authorized(uow, processor)

    outcome = await cancel(uow, processor, payment.payment_id)

    assert outcome.action is CancellationAction.VOIDED
    assert outcome.payment is not None
    assert outcome.payment.status is PaymentStatus.VOIDED
    voided = uow.committed[-1].event
    assert isinstance(voided, events_pb2.PaymentVoided)
    assert voided.reason == "order cancelled: changed my mind"
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.voided


async def test_a_captured_payment_is_refunded_in_full(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await captured(uow, processor)

    outcome = await cancel(uow, processor, payment.payment_id)

    assert outcome.action is CancellationAction.REFUNDED
    assert outcome.payment is not None
    assert outcome.payment.refunded == EUR_100
    assert uow.repos.ledger.balances(payment.payment_id) == outcome.payment.ledger_balances()
    refunded = uow.committed[-1].event
    assert isinstance(refunded, events_pb2.PaymentRefunded)
    assert refunded.refund_amount.amount_minor == 10_000


async def test_a_partly_refunded_payment_gets_the_rest_back(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await captured(uow, processor)
    await service.refund_payment(
        uow,
        processor,
        idempotency_key=new_key(),
        request=RefundRequest(payment.payment_id, Money("EUR", 4_000), "damaged box"),
    )

    outcome = await cancel(uow, processor, payment.payment_id)

    assert outcome.payment is not None
    assert outcome.payment.status is PaymentStatus.REFUNDED
    refunded = uow.committed[-1].event
    assert isinstance(refunded, events_pb2.PaymentRefunded)
    assert refunded.refund_amount.amount_minor == 6_000


@pytest.mark.parametrize("token", ["tok_declined", "tok_expired_card"])
async def test_a_declined_payment_is_left_alone(
    uow: Uow, processor: SimulatedProcessor, token: str
) -> None:
    payment = await authorized(uow, processor, token)

    outcome = await cancel(uow, processor, payment.payment_id)

    assert outcome == CancellationOutcome(CancellationAction.NOTHING, payment)
    assert len(uow.committed) == 1  # only the decline


async def test_an_order_without_a_payment_needs_nothing(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    outcome = await cancel(uow, processor, None)

    assert outcome == CancellationOutcome(CancellationAction.NOTHING, None)
    assert processor.calls == 0


async def test_a_redelivered_event_has_no_second_effect(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await captured(uow, processor)
    await service.refund_payment(  # leave something, so a second refund would be possible
        uow,
        processor,
        idempotency_key=new_key(),
        request=RefundRequest(payment.payment_id, Money("EUR", 1_000), ""),
    )
    event_id = new_key()
    first = await cancel(uow, processor, payment.payment_id, event_id)
    events_so_far = len(uow.committed)

    again = await cancel(uow, processor, payment.payment_id, event_id)

    assert again == first
    assert len(uow.committed) == events_so_far
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.refunded == 10_000


async def test_a_second_cancellation_event_finds_nothing_left(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await captured(uow, processor)
    await cancel(uow, processor, payment.payment_id)

    outcome = await cancel(uow, processor, payment.payment_id)  # another event id

    assert outcome.action is CancellationAction.NOTHING


async def test_a_lost_processor_answer_is_settled_by_the_redelivery_once(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await _captured_through_retries(uow, processor)
    event_id = new_key()

    with pytest.raises(ProcessorUnavailable):  # the consumer does not ack; JetStream redelivers
        await cancel(uow, processor, payment.payment_id, event_id)
    outcome = await cancel(uow, processor, payment.payment_id, event_id)

    assert outcome.action is CancellationAction.REFUNDED
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.refunded == 10_000


async def test_a_payment_of_another_order_is_refused(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await authorized(uow, processor)
    other = cancellation(payment.payment_id, order_id="9d2e1c8b-0000-4000-8000-000000000000")

    with pytest.raises(PaymentOrderMismatch):
        await service.refund_or_void_cancelled_order(
            uow, processor, event_id=new_key(), cancellation=other
        )


async def test_an_unknown_payment_is_not_found(uow: Uow, processor: SimulatedProcessor) -> None:
    with pytest.raises(PaymentNotFound):
        await cancel(uow, processor, "5f0c0f7e-0000-4000-8000-000000000000")


def test_the_event_becomes_the_domains_cancellation() -> None:
    event = orders_events.OrderCancelled(
        order_id="0b4f1d0e-5c1a-4d6e-9f3b-7a2c8e6d1f40",
        customer_id="c",
        total=money_pb2.Money(currency_code="EUR", amount_minor=10_000),
        reason="too slow",
    )

    assert events.order_cancellation(event) == OrderCancellation(
        event.order_id, None, EUR_100, "too slow"
    )
    event.payment_id = "5f0c0f7e-0000-4000-8000-000000000000"
    assert events.order_cancellation(event).payment_id == event.payment_id


async def _captured_through_retries(uow: Uow, processor: SimulatedProcessor) -> Payment:
    """A flaky card's payment, captured: every call's first attempt loses its answer."""
    authorize_key, capture_key = new_key(), new_key()
    payment = await after_lost_answers(
        lambda: service.authorize_payment(
            uow, processor, idempotency_key=authorize_key, request=authorization("tok_flaky")
        )
    )
    return await after_lost_answers(
        lambda: service.capture_payment(
            uow,
            processor,
            idempotency_key=capture_key,
            request=CaptureRequest(payment.payment_id, None),
        )
    )
