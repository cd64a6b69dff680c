"""Payments' use cases: one function each, one unit of work each. Nothing about gRPC: they
take and return domain values.

Every command follows the same steps in one transaction: claim its idempotency key, lock
the payment, let the domain decide, ask the processor to carry the decision out, then
save the payment, post its ledger movement and emit its event, and commit all of it with
the outcome the key will return to a retry.

The processor is asked inside the transaction, with a key derived from the command's own
(processor.processor_key). So a concurrent duplicate of the command waits on the claimed
key instead of asking the processor too, and when the processor gives no answer
(ProcessorUnavailable) nothing commits, the key is free again, and the caller's retry asks
the processor once more with the same key: it answers what it did, and nothing happens
twice. The price is a connection held for the length of a processor call. If the
processor answered but the commit then failed (the database went away), the card has a
hold or a charge payments has no record of until the caller retries; a gateway's
reconciliation report is what settles a caller that never does (not built here).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from chassis.uow import UnitOfWork, retry_conflicts
from payments import domain, events
from payments.domain import (
    AuthorizationRequest,
    Captured,
    CaptureRequest,
    Change,
    Declined,
    OrderCancellation,
    Payment,
    PaymentNotFound,
    Refunded,
    RefundRequest,
    Voided,
    VoidRequest,
)
from payments.processor import CardProcessor, processor_key
from payments.repository import Repositories


def utc_now() -> datetime:
    return datetime.now(UTC)


class CancellationAction(enum.Enum):
    VOIDED = "VOIDED"
    REFUNDED = "REFUNDED"
    NOTHING = "NOTHING"  # no payment, or nothing held or left to give back


@dataclass(frozen=True)
class CancellationOutcome:
    """What payments did about a cancelled order."""

    action: CancellationAction
    payment: Payment | None  # as it is afterwards; None when the order had no payment


async def get_payment(uow: UnitOfWork[Repositories], payment_id: str) -> Payment:
    async with uow:
        payment = await uow.repos.payments.get(payment_id)
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


@retry_conflicts
async def authorize_payment(
    uow: UnitOfWork[Repositories],
    processor: CardProcessor,
    *,
    idempotency_key: str,
    request: AuthorizationRequest,
) -> Payment:
    """A new payment: AUTHORIZED when the processor holds the amount, DECLINED when it
    refuses (a decline is an outcome, not an error: a retry returns it again)."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Payment)
        if earlier is not None:
            return earlier
        answer = await processor.authorize(
            idempotency_key=processor_key("authorize", idempotency_key),
            amount=request.amount,
            payment_token=request.payment_token,
        )
        change = domain.authorize(str(uuid.uuid4()), request, answer, utc_now())
        await _record(uow, change)
        await uow.commit(change.payment)
    return change.payment


@retry_conflicts
async def capture_payment(
    uow: UnitOfWork[Repositories],
    processor: CardProcessor,
    *,
    idempotency_key: str,
    request: CaptureRequest,
) -> Payment:
    """Takes all or part of an authorization; the rest of the hold is released."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Payment)
        if earlier is not None:
            return earlier
        payment = await _locked(uow, request.payment_id)
        change = domain.capture(payment, request.amount, utc_now())
        await _carry_out(processor, change, idempotency_key)
        await _record(uow, change)
        await uow.commit(change.payment)
    return change.payment


@retry_conflicts
async def void_authorization(
    uow: UnitOfWork[Repositories],
    processor: CardProcessor,
    *,
    idempotency_key: str,
    request: VoidRequest,
) -> Payment:
    """Releases the hold of an authorization; a payment with none is returned unchanged."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Payment)
        if earlier is not None:
            return earlier
        payment = await _locked(uow, request.payment_id)
        change = domain.void(payment, request.reason, utc_now())
        if change is not None:
            await _carry_out(processor, change, idempotency_key)
            await _record(uow, change)
            payment = change.payment
        await uow.commit(payment)
    return payment


@retry_conflicts
async def refund_payment(
    uow: UnitOfWork[Repositories],
    processor: CardProcessor,
    *,
    idempotency_key: str,
    request: RefundRequest,
) -> Payment:
    """Gives captured money back, all that remains or part of it; a full refund of a
    payment with nothing left returns it unchanged."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Payment)
        if earlier is not None:
            return earlier
        payment = await _locked(uow, request.payment_id)
        change = domain.refund(payment, request.amount, request.reason, utc_now())
        if change is not None:
            await _carry_out(processor, change, idempotency_key)
            await _record(uow, change)
            payment = change.payment
        await uow.commit(payment)
    return payment


@retry_conflicts
async def refund_or_void_cancelled_order(
    uow: UnitOfWork[Repositories],
    processor: CardProcessor,
    *,
    event_id: str,
    cancellation: OrderCancellation,
) -> CancellationOutcome:
    """Payments' part in cancelling an order (choreographed, on OrderCancelled): voids the
    authorization or refunds what was captured, at most the order's total.

    The event's id is the idempotency key, so a redelivery returns the first outcome and
    has no second effect; the processor is asked with keys derived from it. A payment of
    another order (PaymentOrderMismatch), an unknown one (PaymentNotFound) or a total in
    another currency (CurrencyMismatch) will not change on redelivery: dead-letter it."""
    async with uow:
        earlier = await uow.claim(event_id, cancellation, CancellationOutcome)
        if earlier is not None:
            return earlier
        outcome = CancellationOutcome(CancellationAction.NOTHING, None)
        if cancellation.payment_id is not None:
            payment = await _locked(uow, cancellation.payment_id)
            change = domain.settle_cancellation(payment, cancellation, utc_now())
            if change is None:
                outcome = CancellationOutcome(CancellationAction.NOTHING, payment)
            else:
                await _carry_out(processor, change, event_id)
                await _record(uow, change)
                action = (
                    CancellationAction.VOIDED
                    if isinstance(change, Voided)
                    else CancellationAction.REFUNDED
                )
                outcome = CancellationOutcome(action, change.payment)
        await uow.commit(outcome)
    return outcome


async def _locked(uow: UnitOfWork[Repositories], payment_id: str) -> Payment:
    payment = await uow.repos.payments.get(payment_id, for_update=True)
    if payment is None:
        raise PaymentNotFound(payment_id)
    return payment


async def _carry_out(
    processor: CardProcessor, change: Captured | Voided | Refunded, key: str
) -> None:
    """Asks the processor to do what the domain decided, under a key derived from `key`."""
    reference = change.payment.processor_reference
    match change:
        case Captured(amount=amount):
            await processor.capture(
                idempotency_key=processor_key("capture", key), reference=reference, amount=amount
            )
        case Voided():
            await processor.void(idempotency_key=processor_key("void", key), reference=reference)
        case Refunded(amount=amount):
            await processor.refund(
                idempotency_key=processor_key("refund", key), reference=reference, amount=amount
            )


async def _record(uow: UnitOfWork[Repositories], change: Change) -> None:
    """The change's new payment version, its ledger movement and its event."""
    await uow.repos.payments.save(change.payment)
    if not isinstance(change, Declined):
        await uow.repos.ledger.post(change.movement)
    uow.emit(events.event_for(change), change.payment.payment_id)
