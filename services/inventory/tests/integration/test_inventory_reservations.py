"""Reservations and adjustments against a real Postgres: how units move, what the outbox
holds, the expiry sweeper, and idempotency for every mutating command."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import protovalidate
import pytest
from inventory_examples import Clock, UnitsOfWork, new_key, request, stock_up, stored_reservation

from chassis.db import Database
from chassis.domain import IdempotencyKeyReused
from chassis.testing import outbox_events
from inventory import service, sweeper
from inventory.domain import (
    Adjustment,
    AdjustmentBelowReserved,
    InsufficientStock,
    ReservationAlreadyConfirmed,
    ReservationAlreadyReleased,
    ReservationExpired,
    ReservationNotFound,
    ReservationStatus,
    Shortage,
    StockLevelNotFound,
)
from shop.inventory.v1 import events_pb2, reservation_pb2

pytestmark = pytest.mark.anyio

KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"
UNKNOWN_RESERVATION = "00000000-0000-4000-8000-000000000000"


async def test_a_confirmed_reservation_takes_its_units_out_of_stock(
    uow: UnitsOfWork, db: Database
) -> None:
    await stock_up(uow, KNIFE, 10, threshold=8)
    await stock_up(uow, PAN, 3)

    reserved = await service.reserve_stock(
        uow(), idempotency_key=new_key(), request=request((KNIFE, 2), (PAN, 1))
    )
    held = await service.get_stock(uow(), KNIFE)
    confirmed = await service.confirm_reservation(
        uow(), idempotency_key=new_key(), reservation_id=reserved.reservation_id
    )
    shipped = await service.get_stock(uow(), KNIFE)

    assert (held.on_hand, held.reserved, held.available, held.version) == (10, 2, 8, 2)
    assert (shipped.on_hand, shipped.reserved, shipped.available, shipped.version) == (8, 0, 8, 3)
    assert confirmed.status is ReservationStatus.CONFIRMED
    assert confirmed.version == 2
    assert await stored_reservation(uow, reserved.reservation_id) == confirmed

    events = await outbox_events(db)
    assert [(e.subject, e.envelope.subject) for e in events] == [
        ("inventory.reservation.stock_reserved", f"reservations/{reserved.reservation_id}"),
        ("inventory.stock.low", f"stock/{KNIFE}"),
        ("inventory.reservation.confirmed", f"reservations/{reserved.reservation_id}"),
    ]
    for event in events:  # what consumers check before anything else
        protovalidate.validate(event.envelope)
        protovalidate.validate(event.data)
    stock_reserved, stock_low, _ = (e.data for e in events)
    assert isinstance(stock_reserved, events_pb2.StockReserved)
    assert [(line.sku, line.quantity) for line in stock_reserved.lines] == [(KNIFE, 2), (PAN, 1)]
    assert stock_reserved.expire_time.ToDatetime(tzinfo=reserved.expire_time.tzinfo) == (
        reserved.expire_time
    )
    assert stock_low == events_pb2.StockLow(sku=KNIFE, available=8, threshold=8, version=2)


async def test_a_released_reservation_makes_its_units_available_again(
    uow: UnitsOfWork, db: Database
) -> None:
    await stock_up(uow, KNIFE, 10)
    reserved = await service.reserve_stock(
        uow(), idempotency_key=new_key(), request=request((KNIFE, 4))
    )

    released = await service.release_reservation(
        uow(), idempotency_key=new_key(), reservation_id=reserved.reservation_id, detail="no card"
    )

    assert released.status is ReservationStatus.RELEASED
    level = await service.get_stock(uow(), KNIFE)
    assert (level.on_hand, level.reserved) == (10, 0)
    last = (await outbox_events(db))[-1].data
    assert last == events_pb2.ReservationReleased(
        reservation_id=reserved.reservation_id,
        order_id=reserved.order_id,
        lines=[reservation_pb2.ReservationLine(sku=KNIFE, quantity=4)],
        reason=events_pb2.RELEASE_REASON_SAGA_COMPENSATION,
        detail="no card",
    )


async def test_a_short_reservation_holds_nothing(uow: UnitsOfWork, db: Database) -> None:
    await stock_up(uow, KNIFE, 10)
    await stock_up(uow, PAN, 1)

    with pytest.raises(InsufficientStock) as refused:
        await service.reserve_stock(
            uow(), idempotency_key=new_key(), request=request((KNIFE, 2), (PAN, 2), ("NEW-1", 1))
        )

    assert refused.value.shortages == (Shortage(PAN, 2, 1), Shortage("NEW-1", 1, 0))
    assert (await service.get_stock(uow(), KNIFE)).reserved == 0
    assert await outbox_events(db) == []


async def test_every_transition_out_of_a_final_status_is_answered_as_the_contract_says(
    uow: UnitsOfWork,
) -> None:
    clock = Clock()
    await stock_up(uow, KNIFE, 10)

    async def reservation() -> str:
        made = await service.reserve_stock(
            uow(),
            idempotency_key=new_key(),
            request=request((KNIFE, 1), ttl_seconds=60),
            clock=clock,
        )
        return made.reservation_id

    async def confirm(reservation_id: str) -> ReservationStatus:
        settled = await service.confirm_reservation(
            uow(), idempotency_key=new_key(), reservation_id=reservation_id, clock=clock
        )
        return settled.status

    async def release(reservation_id: str) -> ReservationStatus:
        settled = await service.release_reservation(
            uow(), idempotency_key=new_key(), reservation_id=reservation_id, detail="", clock=clock
        )
        return settled.status

    confirmed, released, expired = await reservation(), await reservation(), await reservation()
    await confirm(confirmed)
    await release(released)
    clock.advance(60)
    assert await sweeper.sweep_once(uow, clock=clock) == 1  # `expired` was the only PENDING one

    assert await confirm(confirmed) is ReservationStatus.CONFIRMED
    with pytest.raises(ReservationAlreadyConfirmed):
        await release(confirmed)
    with pytest.raises(ReservationAlreadyReleased):
        await confirm(released)
    assert await release(released) is ReservationStatus.RELEASED
    with pytest.raises(ReservationExpired):
        await confirm(expired)
    assert await release(expired) is ReservationStatus.EXPIRED
    with pytest.raises(ReservationNotFound):
        await confirm(UNKNOWN_RESERVATION)
    with pytest.raises(ReservationNotFound):
        await release(UNKNOWN_RESERVATION)
    level = await service.get_stock(uow(), KNIFE)
    assert (level.on_hand, level.reserved) == (9, 0)


async def test_the_sweeper_returns_the_stock_of_expired_reservations_only(
    uow: UnitsOfWork, db: Database
) -> None:
    clock = Clock()
    await stock_up(uow, KNIFE, 10)
    await stock_up(uow, PAN, 5)
    short = await service.reserve_stock(
        uow(),
        idempotency_key=new_key(),
        request=request((KNIFE, 3), (PAN, 2), ttl_seconds=30),
        clock=clock,
    )
    long = await service.reserve_stock(
        uow(), idempotency_key=new_key(), request=request((KNIFE, 1), ttl_seconds=300), clock=clock
    )

    clock.advance(29)
    early = await sweeper.sweep_once(uow, clock=clock)
    clock.advance(1)
    due = await sweeper.sweep_once(uow, clock=clock)

    assert (early, due) == (0, 1)
    assert (await stored_reservation(uow, short.reservation_id)).status is ReservationStatus.EXPIRED
    assert (await stored_reservation(uow, long.reservation_id)).status is ReservationStatus.PENDING
    knife, pan = await service.get_stock(uow(), KNIFE), await service.get_stock(uow(), PAN)
    assert (knife.on_hand, knife.reserved, pan.reserved) == (10, 1, 0)
    released = (await outbox_events(db, aggregate=f"reservations/{short.reservation_id}"))[-1]
    assert released.subject == "inventory.reservation.released"
    assert isinstance(released.data, events_pb2.ReservationReleased)
    assert released.data.reason == events_pb2.RELEASE_REASON_EXPIRED
    assert [(line.sku, line.quantity) for line in released.data.lines] == [(KNIFE, 3), (PAN, 2)]


async def test_the_sweeper_expires_more_than_one_batch(uow: UnitsOfWork) -> None:
    clock = Clock()
    await stock_up(uow, KNIFE, 500)
    for _ in range(service.EXPIRY_BATCH + 5):
        await service.reserve_stock(
            uow(),
            idempotency_key=new_key(),
            request=request((KNIFE, 1), ttl_seconds=1),
            clock=clock,
        )
    clock.advance(1)

    batches = [await sweeper.sweep_once(uow, clock=clock) for _ in range(3)]

    assert batches == [service.EXPIRY_BATCH, 5, 0]
    assert (await service.get_stock(uow(), KNIFE)).reserved == 0


async def test_stock_low_is_published_once_per_crossing(uow: UnitsOfWork, db: Database) -> None:
    await stock_up(uow, KNIFE, 10, threshold=5)

    async def adjust(delta: int) -> None:
        await service.adjust_stock(
            uow(), idempotency_key=new_key(), adjustment=Adjustment(KNIFE, delta, "stocktake")
        )

    async def reserve(quantity: int) -> None:
        await service.reserve_stock(
            uow(), idempotency_key=new_key(), request=request((KNIFE, quantity))
        )

    await reserve(4)  # available 6
    await adjust(-1)  # 5: crossed
    await reserve(1)  # 4: still below, no new event
    await adjust(+10)  # 14: back above
    await reserve(9)  # 5: crossed again

    lows = [e.data for e in await outbox_events(db) if isinstance(e.data, events_pb2.StockLow)]
    assert [(low.available, low.threshold) for low in lows] == [(5, 5), (5, 5)]


async def test_adjustments_create_change_and_refuse_as_the_contract_says(
    uow: UnitsOfWork, db: Database
) -> None:
    created = await service.adjust_stock(
        uow(), idempotency_key=new_key(), adjustment=Adjustment(KNIFE, 5, "goods receipt 4711")
    )
    await service.reserve_stock(uow(), idempotency_key=new_key(), request=request((KNIFE, 3)))

    with pytest.raises(AdjustmentBelowReserved):
        await service.adjust_stock(
            uow(), idempotency_key=new_key(), adjustment=Adjustment(KNIFE, -3, "damaged")
        )
    with pytest.raises(AdjustmentBelowReserved):
        await service.adjust_stock(
            uow(), idempotency_key=new_key(), adjustment=Adjustment("NEW-SKU-1", -1, "count")
        )
    lowered = await service.adjust_stock(
        uow(), idempotency_key=new_key(), adjustment=Adjustment(KNIFE, -2, "damaged")
    )

    assert (created.on_hand, created.version) == (5, 1)
    assert (lowered.on_hand, lowered.reserved, lowered.version) == (3, 3, 3)
    with pytest.raises(StockLevelNotFound):
        await service.get_stock(uow(), "NEW-SKU-1")


# Every mutating command: a replay returns the first outcome and has no second effect; the
# same key with another request (variant 1 instead of 0) is refused and changes nothing.
Command = Callable[[UnitsOfWork, str, int, list[str]], Awaitable[object]]


async def reserve(uow: UnitsOfWork, key: str, variant: int, pending: list[str]) -> object:
    return await service.reserve_stock(
        uow(), idempotency_key=key, request=request((KNIFE, variant + 1))
    )


async def confirm(uow: UnitsOfWork, key: str, variant: int, pending: list[str]) -> object:
    return await service.confirm_reservation(
        uow(), idempotency_key=key, reservation_id=pending[variant]
    )


async def release(uow: UnitsOfWork, key: str, variant: int, pending: list[str]) -> object:
    return await service.release_reservation(
        uow(), idempotency_key=key, reservation_id=pending[variant], detail="compensation"
    )


async def adjust(uow: UnitsOfWork, key: str, variant: int, pending: list[str]) -> object:
    return await service.adjust_stock(
        uow(), idempotency_key=key, adjustment=Adjustment(KNIFE, variant + 1, "goods receipt")
    )


@pytest.mark.parametrize("command", [reserve, confirm, release, adjust])
async def test_a_replay_returns_the_first_outcome_and_a_reused_key_is_refused(
    uow: UnitsOfWork, db: Database, command: Command
) -> None:
    await stock_up(uow, KNIFE, 10)
    await stock_up(uow, PAN, 10)
    pending = [
        (
            await service.reserve_stock(uow(), idempotency_key=new_key(), request=request((PAN, 1)))
        ).reservation_id
        for _ in range(2)
    ]
    key = new_key()
    first = await command(uow, key, 0, pending)
    stock_after_first = [await service.get_stock(uow(), sku) for sku in (KNIFE, PAN)]
    events_after_first = len(await outbox_events(db))

    replay = await command(uow, key, 0, pending)
    with pytest.raises(IdempotencyKeyReused) as refused:
        await command(uow, key, 1, pending)

    assert replay == first
    assert refused.value.metadata == {"idempotency_key": key}
    assert [await service.get_stock(uow(), sku) for sku in (KNIFE, PAN)] == stock_after_first
    assert len(await outbox_events(db)) == events_after_first


async def test_a_key_is_bound_to_its_command_not_only_to_its_fields(uow: UnitsOfWork) -> None:
    await stock_up(uow, KNIFE, 10)
    reserved = await service.reserve_stock(
        uow(), idempotency_key=new_key(), request=request((KNIFE, 1))
    )
    key = new_key()
    await service.confirm_reservation(
        uow(), idempotency_key=key, reservation_id=reserved.reservation_id
    )

    with pytest.raises(IdempotencyKeyReused):
        await service.release_reservation(
            uow(), idempotency_key=key, reservation_id=reserved.reservation_id, detail=""
        )


async def test_releasing_an_overdue_reservation_expires_it_and_leaves_the_sweeper_nothing(
    uow: UnitsOfWork,
) -> None:
    clock = Clock()
    await stock_up(uow, KNIFE, 2)
    reserved = await service.reserve_stock(
        uow(), idempotency_key=new_key(), request=request((KNIFE, 2), ttl_seconds=5), clock=clock
    )
    clock.advance(5)

    # Overdue, not yet swept: the release finds it had expired and says so.
    released = await service.release_reservation(
        uow(),
        idempotency_key=new_key(),
        reservation_id=reserved.reservation_id,
        detail="",
        clock=clock,
    )

    assert released.status is ReservationStatus.EXPIRED
    assert (await service.get_stock(uow(), KNIFE)).available == 2
    assert await sweeper.sweep_once(uow, clock=clock) == 0
