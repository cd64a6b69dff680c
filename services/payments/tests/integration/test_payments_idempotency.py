"""Every mutating command, on Postgres: a replay with the same key returns the original
outcome and has no second effect (no new event, ledger entry or processor call); the same
key with a different request is refused and changes nothing. OrderCancelled is keyed by
its event id the same way."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from payments_examples import EUR_100, UnitsOfWork, authorization, cancellation, new_key
from sqlalchemy import text

from chassis.db import Database
from chassis.domain import IdempotencyKeyReused
from payments import service
from payments.domain import CaptureRequest, Money, RefundRequest, VoidRequest
from payments.simulated_processor import SimulatedProcessor

pytestmark = pytest.mark.anyio

Send = Callable[[UnitsOfWork, SimulatedProcessor, str, str, bool], Awaitable[object]]
"""(units of work, processor, key, payment id, other request?) -> the command's outcome"""


async def authorize(
    uow: UnitsOfWork, processor: SimulatedProcessor, key: str, payment_id: str, other: bool
) -> object:
    amount = Money("EUR", 9_999) if other else EUR_100
    return await service.authorize_payment(
        uow(), processor, idempotency_key=key, request=authorization(amount=amount)
    )


async def capture(
    uow: UnitsOfWork, processor: SimulatedProcessor, key: str, payment_id: str, other: bool
) -> object:
    request = CaptureRequest(payment_id, Money("EUR", 5_000 if other else 6_000))
    return await service.capture_payment(uow(), processor, idempotency_key=key, request=request)


async def void(
    uow: UnitsOfWork, processor: SimulatedProcessor, key: str, payment_id: str, other: bool
) -> object:
    request = VoidRequest(payment_id, "customer asked" if other else "out of stock")
    return await service.void_authorization(uow(), processor, idempotency_key=key, request=request)


async def refund(
    uow: UnitsOfWork, processor: SimulatedProcessor, key: str, payment_id: str, other: bool
) -> object:
    request = RefundRequest(payment_id, Money("EUR", 2_000 if other else 1_000), "")
    return await service.refund_payment(uow(), processor, idempotency_key=key, request=request)


async def cancel_order(
    uow: UnitsOfWork, processor: SimulatedProcessor, key: str, payment_id: str, other: bool
) -> object:
    total = Money("EUR", 9_000 if other else 10_000)
    return await service.refund_or_void_cancelled_order(
        uow(), processor, event_id=key, cancellation=cancellation(payment_id, total)
    )


@dataclass(frozen=True)
class Command:
    send: Send
    on: str  # the payment it needs first: "none", "authorized" or "captured"


COMMANDS = {
    "AuthorizePayment": Command(authorize, "none"),
    "CapturePayment": Command(capture, "authorized"),
    "VoidAuthorization": Command(void, "authorized"),
    "RefundPayment": Command(refund, "captured"),
    "OrderCancelled": Command(cancel_order, "captured"),
}


@dataclass(frozen=True)
class Effects:
    """Everything a command can change."""

    events: int
    ledger_entries: int
    payments: str
    processor_calls: int


async def effects(db: Database, processor: SimulatedProcessor) -> Effects:
    async with db.transaction() as conn:
        events = await conn.scalar(text("SELECT count(*) FROM outbox"))
        entries = await conn.scalar(text("SELECT count(*) FROM ledger_entries"))
        stored = await conn.scalar(
            text(
                "SELECT coalesce(string_agg(p::text, ',' ORDER BY payment_id), '') FROM payments p"
            )
        )
    return Effects(int(events or 0), int(entries or 0), str(stored), processor.calls)


async def payment_for(command: Command, uow: UnitsOfWork, processor: SimulatedProcessor) -> str:
    if command.on == "none":
        return ""
    payment = await service.authorize_payment(
        uow(), processor, idempotency_key=new_key(), request=authorization()
    )
    if command.on == "captured":
        await service.capture_payment(
            uow(),
            processor,
            idempotency_key=new_key(),
            request=CaptureRequest(payment.payment_id, None),
        )
    return payment.payment_id


@pytest.mark.parametrize("name", COMMANDS)
async def test_a_replay_returns_the_original_outcome_and_has_no_second_effect(
    name: str, uow: UnitsOfWork, db: Database
) -> None:
    command, processor, key = COMMANDS[name], SimulatedProcessor(), new_key()
    payment_id = await payment_for(command, uow, processor)
    first = await command.send(uow, processor, key, payment_id, False)
    after_first = await effects(db, processor)

    replay = await command.send(uow, processor, key, payment_id, False)

    assert replay == first
    assert await effects(db, processor) == after_first


@pytest.mark.parametrize("name", COMMANDS)
async def test_the_same_key_with_another_request_is_refused_and_changes_nothing(
    name: str, uow: UnitsOfWork, db: Database
) -> None:
    command, processor, key = COMMANDS[name], SimulatedProcessor(), new_key()
    payment_id = await payment_for(command, uow, processor)
    await command.send(uow, processor, key, payment_id, False)
    after_first = await effects(db, processor)

    with pytest.raises(IdempotencyKeyReused) as raised:
        await command.send(uow, processor, key, payment_id, True)

    assert raised.value.metadata == {"idempotency_key": key}
    assert await effects(db, processor) == after_first


async def test_a_key_used_for_one_command_is_refused_for_another(
    uow: UnitsOfWork, db: Database
) -> None:
    processor, key = SimulatedProcessor(), new_key()
    payment_id = await payment_for(COMMANDS["CapturePayment"], uow, processor)
    await capture(uow, processor, key, payment_id, False)

    with pytest.raises(IdempotencyKeyReused):
        await refund(uow, processor, key, payment_id, False)
