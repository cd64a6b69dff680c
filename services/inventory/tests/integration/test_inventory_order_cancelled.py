"""An order's cancellation (orders' OrderCancelled) against a real Postgres: what moves,
what the outbox and stock_adjustments hold, and what a redelivery or another event for
the same reservation does. Races with the saga's own commands are in
test_inventory_concurrency.py; the consumer end to end in test_inventory_consumer.py."""

from __future__ import annotations

import protovalidate
import pytest
from inventory_examples import (
    ORDER_ID,
    Clock,
    UnitsOfWork,
    new_key,
    request,
    stock_up,
    stored_reservation,
)
from sqlalchemy import select

from chassis.db import Database
from chassis.testing import outbox_events
from inventory import service
from inventory.domain import (
    CancellationEffect,
    OrderCancellation,
    Reservation,
    ReservationOrderMismatch,
    ReservationStatus,
)
from inventory.tables import stock_adjustments
from shop.inventory.v1 import events_pb2, reservation_pb2

pytestmark = pytest.mark.anyio

KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"
UNKNOWN_RESERVATION = "00000000-0000-4000-8000-000000000000"
OTHER_ORDER = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"


async def reserved(uow: UnitsOfWork, clock: Clock) -> Reservation:
    """2 knives and 1 pan held for ORDER_ID, for a minute."""
    return await service.reserve_stock(
        uow(),
        idempotency_key=new_key(),
        request=request((KNIFE, 2), (PAN, 1), ttl_seconds=60),
        clock=clock,
    )


async def cancel(
    uow: UnitsOfWork,
    reservation_id: str | None,
    clock: Clock,
    *,
    key: str | None = None,
    order_id: str = ORDER_ID,
) -> service.CancellationOutcome:
    return await service.release_or_restock_cancelled_order(
        uow(),
        event_key=key or new_key(),
        cancellation=OrderCancellation(order_id, reservation_id, reason="found it cheaper"),
        clock=clock,
    )


async def stock(uow: UnitsOfWork) -> dict[str, tuple[int, int, int]]:
    """(on_hand, reserved, version) per SKU."""
    levels = [await service.get_stock(uow(), sku) for sku in (KNIFE, PAN)]
    return {lv.sku: (lv.on_hand, lv.reserved, lv.version) for lv in levels}


async def adjustments(db: Database) -> list[tuple[str, int, str, int, str | None]]:
    """stock_adjustments past the opening stock: (sku, delta, reason, on_hand_after,
    reservation_id)."""
    async with db.transaction() as conn:
        rows = await conn.execute(
            select(
                stock_adjustments.c.sku,
                stock_adjustments.c.delta,
                stock_adjustments.c.reason,
                stock_adjustments.c.on_hand_after,
                stock_adjustments.c.reservation_id,
            )
            .where(stock_adjustments.c.reason != "test stock")
            .order_by(stock_adjustments.c.id)
        )
        return [(r.sku, r.delta, r.reason, r.on_hand_after, r.reservation_id) for r in rows]


@pytest.fixture
async def stocked(uow: UnitsOfWork) -> None:
    await stock_up(uow, KNIFE, 10)
    await stock_up(uow, PAN, 3)


@pytest.mark.usefixtures("stocked")
async def test_a_pending_reservation_is_released_and_reservation_released_says_why(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)

    outcome = await cancel(uow, reservation.reservation_id, clock)

    assert outcome.effect is CancellationEffect.RELEASED
    stored = await stored_reservation(uow, reservation.reservation_id)
    assert stored == outcome.reservation
    assert (stored.status, stored.version) == (ReservationStatus.RELEASED, 2)
    assert await stock(uow) == {KNIFE: (10, 0, 3), PAN: (3, 0, 3)}
    last = (await outbox_events(db))[-1]
    assert (last.subject, last.envelope.subject) == (
        "inventory.reservation.released",
        f"reservations/{reservation.reservation_id}",
    )
    assert last.data == events_pb2.ReservationReleased(
        reservation_id=reservation.reservation_id,
        order_id=ORDER_ID,
        lines=[
            reservation_pb2.ReservationLine(sku=KNIFE, quantity=2),
            reservation_pb2.ReservationLine(sku=PAN, quantity=1),
        ],
        reason=events_pb2.RELEASE_REASON_ORDER_CANCELLED,
        detail="order cancelled: found it cheaper",
    )
    protovalidate.validate(last.envelope)
    protovalidate.validate(last.data)
    assert await adjustments(db) == []  # a release never touches on_hand


@pytest.mark.usefixtures("stocked")
async def test_a_confirmed_reservation_is_restocked_once_however_often_it_is_delivered(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)
    await service.confirm_reservation(
        uow(), idempotency_key=new_key(), reservation_id=reservation.reservation_id, clock=clock
    )
    shipped = await stock(uow)
    events_after_confirm = len(await outbox_events(db))
    key = new_key()

    first = await cancel(uow, reservation.reservation_id, clock, key=key)
    redelivered = await cancel(uow, reservation.reservation_id, clock, key=key)
    another_event = await cancel(uow, reservation.reservation_id, clock)  # a replay, say

    assert shipped == {KNIFE: (8, 0, 3), PAN: (2, 0, 3)}
    assert first.effect is CancellationEffect.RESTOCKED
    assert redelivered == first
    assert another_event.effect is CancellationEffect.ALREADY_RESTOCKED
    assert await stock(uow) == {KNIFE: (10, 0, 4), PAN: (3, 0, 4)}
    reason = (
        f"restock: order {ORDER_ID} cancelled after its reservation"
        f" {reservation.reservation_id} was confirmed"
    )
    assert await adjustments(db) == [
        (KNIFE, 2, reason, 10, reservation.reservation_id),
        (PAN, 1, reason, 3, reservation.reservation_id),
    ]
    stored = await stored_reservation(uow, reservation.reservation_id)
    assert stored.status is ReservationStatus.CONFIRMED  # the adjustments are the record
    restocked = (await outbox_events(db))[events_after_confirm:]
    assert [e.subject for e in restocked] == ["inventory.reservation.restocked"]  # once


@pytest.mark.usefixtures("stocked")
async def test_a_redelivered_release_has_no_second_effect(uow: UnitsOfWork, db: Database) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)
    key = new_key()
    first = await cancel(uow, reservation.reservation_id, clock, key=key)
    after_first = (await stock(uow), len(await outbox_events(db)))

    again = await cancel(uow, reservation.reservation_id, clock, key=key)

    assert again == first
    assert (await stock(uow), len(await outbox_events(db))) == after_first


@pytest.mark.usefixtures("stocked")
async def test_an_overdue_reservation_is_expired_not_released(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)
    clock.advance(60)  # due, not swept yet

    outcome = await cancel(uow, reservation.reservation_id, clock)

    assert outcome.effect is CancellationEffect.EXPIRED
    last = (await outbox_events(db))[-1].data
    assert isinstance(last, events_pb2.ReservationReleased)
    assert last.reason == events_pb2.RELEASE_REASON_EXPIRED
    assert await stock(uow) == {KNIFE: (10, 0, 3), PAN: (3, 0, 3)}


@pytest.mark.usefixtures("stocked")
async def test_expired_released_unknown_or_no_reservation_is_nothing_to_do(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    released = await reserved(uow, clock)
    await service.release_reservation(
        uow(),
        idempotency_key=new_key(),
        reservation_id=released.reservation_id,
        detail="payment declined",
        clock=clock,
    )
    expired = await reserved(uow, clock)
    clock.advance(60)
    assert await service.expire_due_reservations(uow(), clock=clock) == 1
    before = (await stock(uow), len(await outbox_events(db)))

    outcomes = [
        await cancel(uow, reservation_id, clock, key=key)
        for reservation_id, key in (
            (released.reservation_id, "c1a1d8a4-2f0e-4b5e-9d7c-111111111111"),
            (expired.reservation_id, "c1a1d8a4-2f0e-4b5e-9d7c-222222222222"),
            (UNKNOWN_RESERVATION, "c1a1d8a4-2f0e-4b5e-9d7c-333333333333"),
            (None, "c1a1d8a4-2f0e-4b5e-9d7c-444444444444"),
        )
    ]

    assert [o.effect for o in outcomes] == [
        CancellationEffect.ALREADY_ENDED,
        CancellationEffect.ALREADY_ENDED,
        CancellationEffect.UNKNOWN,
        CancellationEffect.NONE_MADE,
    ]
    assert [o.reservation.status if o.reservation else None for o in outcomes] == [
        ReservationStatus.RELEASED,
        ReservationStatus.EXPIRED,
        None,
        None,
    ]
    assert (await stock(uow), len(await outbox_events(db))) == before
    assert await adjustments(db) == []
    # Handled, so a redelivery finds the claim: the same outcome, nothing done.
    again = await cancel(uow, None, clock, key="c1a1d8a4-2f0e-4b5e-9d7c-444444444444")
    assert again == outcomes[-1]


@pytest.mark.usefixtures("stocked")
async def test_another_orders_reservation_is_refused_and_the_event_is_not_claimed(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)
    before = (await stock(uow), len(await outbox_events(db)))
    key = new_key()

    for _ in range(2):  # every delivery is refused again, until it is dead-lettered
        with pytest.raises(ReservationOrderMismatch):
            await cancel(uow, reservation.reservation_id, clock, key=key, order_id=OTHER_ORDER)

    assert (await stock(uow), len(await outbox_events(db))) == before
    assert await stored_reservation(uow, reservation.reservation_id) == reservation
