"""Payments' use cases in memory (chassis.testing.InMemoryUnitOfWork, fake repositories, the
simulated processor): what they decide, commit, post and emit, without a database."""

from __future__ import annotations

import pytest
from payments_examples import authorization, new_key
from payments_fakes import InMemoryRepositories, in_memory_uow

from chassis.domain import IdempotencyKeyReused
from chassis.testing import InMemoryUnitOfWork
from payments import service
from payments.domain import (
    CaptureExceedsAuthorization,
    CaptureRequest,
    DeclineReason,
    Money,
    Payment,
    PaymentNotFound,
    PaymentStatus,
    ProcessorUnavailable,
    RefundExceedsCapture,
    RefundRequest,
    VoidRequest,
)
from payments.processor import processor_key
from payments.simulated_processor import SimulatedProcessor
from shop.payments.v1 import events_pb2, payment_pb2

pytestmark = pytest.mark.anyio

Uow = InMemoryUnitOfWork[InMemoryRepositories]


@pytest.fixture
def uow() -> Uow:
    return in_memory_uow()


@pytest.fixture
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


async def authorize(uow: Uow, processor: SimulatedProcessor, token: str = "tok_visa") -> Payment:
    return await service.authorize_payment(
        uow, processor, idempotency_key=new_key(), request=authorization(token)
    )


async def capture(
    uow: Uow, processor: SimulatedProcessor, payment: Payment, amount: int | None = None
) -> Payment:
    request = CaptureRequest(payment.payment_id, None if amount is None else Money("EUR", amount))
    return await service.capture_payment(uow, processor, idempotency_key=new_key(), request=request)


async def refund(
    uow: Uow, processor: SimulatedProcessor, payment: Payment, amount: int | None = None
) -> Payment:
    request = RefundRequest(
        payment.payment_id, None if amount is None else Money("EUR", amount), "returned"
    )
    return await service.refund_payment(uow, processor, idempotency_key=new_key(), request=request)


def emitted(uow: Uow) -> list[type]:
    return [type(e.event) for e in uow.committed]


# --- each command's effect -------------------------------------------------------------------


async def test_an_approved_authorization_is_stored_posted_and_published(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await authorize(uow, processor)

    assert payment.status is PaymentStatus.AUTHORIZED
    assert await service.get_payment(uow, payment.payment_id) == payment
    assert uow.repos.ledger.balances(payment.payment_id) == payment.ledger_balances()
    [event] = uow.committed
    assert event.aggregate == f"payments/{payment.payment_id}"
    assert isinstance(event.event, events_pb2.PaymentAuthorized)
    assert event.event.authorized_amount.amount_minor == 10_000
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.held == 10_000


async def test_a_decline_is_stored_and_published_but_posts_nothing(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await authorize(uow, processor, "tok_insufficient_funds")

    assert payment.status is PaymentStatus.DECLINED
    assert payment.decline_reason is DeclineReason.INSUFFICIENT_FUNDS
    assert uow.repos.ledger.movements == []
    [event] = uow.committed
    assert isinstance(event.event, events_pb2.PaymentDeclined)
    assert event.event.decline_reason == payment_pb2.DECLINE_REASON_INSUFFICIENT_FUNDS


async def test_capture_then_partial_and_full_refunds_end_refunded(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await authorize(uow, processor)

    captured = await capture(uow, processor, payment, 8_000)
    partly = await refund(uow, processor, captured, 3_000)
    fully = await refund(uow, processor, partly)

    assert [p.status for p in (captured, partly, fully)] == [
        PaymentStatus.CAPTURED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
    ]
    assert fully.refunded == Money("EUR", 8_000)
    assert uow.repos.ledger.balances(payment.payment_id) == fully.ledger_balances()
    assert uow.repos.ledger.totals_by_currency() == {"EUR": 0}
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert (held.captured, held.refunded) == (8_000, 8_000)
    refunds = [e.event for e in uow.committed if isinstance(e.event, events_pb2.PaymentRefunded)]
    assert [
        (r.refund_amount.amount_minor, r.total_refunded_amount.amount_minor) for r in refunds
    ] == [
        (3_000, 3_000),
        (5_000, 8_000),
    ]


async def test_a_void_releases_the_hold_and_says_why(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await authorize(uow, processor)

    voided = await service.void_authorization(
        uow,
        processor,
        idempotency_key=new_key(),
        request=VoidRequest(payment.payment_id, "out of stock"),
    )

    assert voided.status is PaymentStatus.VOIDED
    assert uow.repos.ledger.balances(payment.payment_id) == voided.ledger_balances()
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.PaymentVoided)
    assert (event.reason, event.released_amount.amount_minor) == ("out of stock", 10_000)
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.voided


async def test_voiding_a_declined_payment_returns_it_unchanged_without_an_event(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    declined = await authorize(uow, processor, "tok_declined")
    calls = processor.calls

    unchanged = await service.void_authorization(
        uow, processor, idempotency_key=new_key(), request=VoidRequest(declined.payment_id, "")
    )

    assert unchanged == declined
    assert emitted(uow) == [events_pb2.PaymentDeclined]
    assert processor.calls == calls  # nothing held: the processor is not asked


async def test_a_refused_command_commits_nothing(uow: Uow, processor: SimulatedProcessor) -> None:
    payment = await authorize(uow, processor)

    with pytest.raises(CaptureExceedsAuthorization):
        await capture(uow, processor, payment, 10_001)
    with pytest.raises(RefundExceedsCapture):
        await refund(uow, processor, await capture(uow, processor, payment, 100), 101)

    assert emitted(uow) == [events_pb2.PaymentAuthorized, events_pb2.PaymentCaptured]


async def test_an_unknown_payment_is_not_found(uow: Uow, processor: SimulatedProcessor) -> None:
    with pytest.raises(PaymentNotFound):
        await service.get_payment(uow, "5f0c0f7e-0000-4000-8000-000000000000")
    with pytest.raises(PaymentNotFound):
        await service.capture_payment(
            uow,
            processor,
            idempotency_key=new_key(),
            request=CaptureRequest("5f0c0f7e-0000-4000-8000-000000000000", None),
        )


# --- idempotency -----------------------------------------------------------------------------


async def test_a_replayed_authorization_returns_the_first_outcome_and_asks_nobody(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    key = new_key()
    first = await service.authorize_payment(
        uow, processor, idempotency_key=key, request=authorization()
    )
    calls = processor.calls

    replay = await service.authorize_payment(
        uow, processor, idempotency_key=key, request=authorization()
    )

    assert replay == first
    assert processor.calls == calls
    assert len(uow.repos.payments.saved) == 1
    assert len(uow.committed) == 1


async def test_a_replayed_decline_is_declined_again(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    key = new_key()
    request = authorization("tok_fraudulent")
    first = await service.authorize_payment(uow, processor, idempotency_key=key, request=request)

    assert (
        await service.authorize_payment(uow, processor, idempotency_key=key, request=request)
        == first
    )


async def test_a_key_reused_with_another_token_is_refused(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    key = new_key()
    await service.authorize_payment(uow, processor, idempotency_key=key, request=authorization())

    with pytest.raises(IdempotencyKeyReused):
        await service.authorize_payment(
            uow, processor, idempotency_key=key, request=authorization("tok_mastercard")
        )


async def test_a_replayed_partial_refund_refunds_once(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    captured = await capture(uow, processor, await authorize(uow, processor))
    key = new_key()
    request = RefundRequest(captured.payment_id, Money("EUR", 1_000), "")

    first = await service.refund_payment(uow, processor, idempotency_key=key, request=request)
    replay = await service.refund_payment(uow, processor, idempotency_key=key, request=request)

    assert replay == first
    assert (await service.get_payment(uow, captured.payment_id)).refunded == Money("EUR", 1_000)


# --- the processor does not answer -----------------------------------------------------------


async def test_an_authorization_the_processor_never_answers_leaves_nothing_behind(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    with pytest.raises(ProcessorUnavailable):
        await authorize(uow, processor, "tok_timeout")

    assert uow.repos.payments.saved == {}
    assert uow.committed == []


async def test_a_retry_after_a_lost_answer_authorizes_once(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    key = new_key()
    request = authorization("tok_flaky")
    with pytest.raises(ProcessorUnavailable):
        await service.authorize_payment(uow, processor, idempotency_key=key, request=request)
    assert uow.repos.payments.saved == {}  # nothing committed: the outcome was unknown

    payment = await service.authorize_payment(uow, processor, idempotency_key=key, request=request)

    assert payment.status is PaymentStatus.AUTHORIZED
    [held] = processor.authorizations()  # one hold on the card, not two
    assert held.reference == payment.processor_reference
    assert emitted(uow) == [events_pb2.PaymentAuthorized]


async def test_a_retry_after_a_lost_capture_answer_captures_once(
    uow: Uow, processor: SimulatedProcessor
) -> None:
    payment = await _authorized_through_a_retry(uow, processor)
    key = new_key()
    request = CaptureRequest(payment.payment_id, Money("EUR", 7_000))
    with pytest.raises(ProcessorUnavailable):
        await service.capture_payment(uow, processor, idempotency_key=key, request=request)
    assert (await service.get_payment(uow, payment.payment_id)).status is PaymentStatus.AUTHORIZED

    captured = await service.capture_payment(uow, processor, idempotency_key=key, request=request)

    assert captured.captured == Money("EUR", 7_000)
    held = processor.authorization(payment.processor_reference)
    assert held is not None
    assert held.captured == 7_000


async def _authorized_through_a_retry(uow: Uow, processor: SimulatedProcessor) -> Payment:
    key = new_key()
    request = authorization("tok_flaky")
    with pytest.raises(ProcessorUnavailable):
        await service.authorize_payment(uow, processor, idempotency_key=key, request=request)
    return await service.authorize_payment(uow, processor, idempotency_key=key, request=request)


def test_processor_keys_are_stable_and_differ_per_command_and_operation() -> None:
    key = new_key()

    assert processor_key("capture", key) == processor_key("capture", key)
    assert len({processor_key(op, key) for op in ("authorize", "capture", "void", "refund")}) == 4
    assert processor_key("capture", key) != processor_key("capture", new_key())
