"""Inventory's use cases in memory (chassis.testing.InMemoryUnitOfWork, fake repositories):
what they decide, commit and emit, and what a replayed or reused idempotency key gets,
without a database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import protovalidate
import pytest
from inventory_examples import Clock, level, new_key, request
from inventory_fakes import in_memory_uow, reservations_of, stock_of

from chassis.domain import IdempotencyKeyReused
from chassis.testing import InMemoryUnitOfWork
from inventory import service
from inventory.domain import (
    Adjustment,
    AdjustmentBelowReserved,
    InsufficientStock,
    OpeningStock,
    ReservationNotFound,
    ReservationStatus,
    StockLevelNotFound,
)
from inventory.repository import Repositories
from shop.inventory.v1 import events_pb2

pytestmark = pytest.mark.anyio

KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"
Uow = InMemoryUnitOfWork[Repositories]


@pytest.fixture
def uow() -> Uow:
    return in_memory_uow(level(KNIFE, on_hand=10, threshold=8), level(PAN, on_hand=3))


def emitted(uow: Uow) -> list[tuple[str, type]]:
    return [(e.aggregate, type(e.event)) for e in uow.committed]


async def test_a_reservation_holds_stock_and_emits_stock_reserved_and_stock_low(
    uow: Uow,
) -> None:
    reservation = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((KNIFE, 2), (PAN, 1))
    )

    assert reservation.status is ReservationStatus.PENDING
    assert await service.get_stock(uow, KNIFE) == stock_of(uow).saved[KNIFE]
    assert (await service.get_stock(uow, KNIFE)).reserved == 2
    assert emitted(uow) == [
        (f"reservations/{reservation.reservation_id}", events_pb2.StockReserved),
        (f"stock/{KNIFE}", events_pb2.StockLow),  # available 10 -> 8, threshold 8
    ]
    for event in uow.committed:  # what consumers check before anything else
        protovalidate.validate(event.event)


async def test_a_short_reservation_holds_nothing_and_commits_nothing(uow: Uow) -> None:
    with pytest.raises(InsufficientStock):
        await service.reserve_stock(
            uow, idempotency_key=new_key(), request=request((KNIFE, 2), (PAN, 4))
        )

    assert (await service.get_stock(uow, KNIFE)).reserved == 0
    assert reservations_of(uow).saved == {}
    assert uow.commits == 0


async def test_the_default_ttl_applies_when_the_request_sets_none(uow: Uow) -> None:
    clock = Clock()
    default = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((KNIFE, 1)), clock=clock
    )
    own = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((KNIFE, 1), ttl_seconds=30), clock=clock
    )

    assert default.expire_time - clock.now == service.DEFAULT_RESERVATION_TTL
    assert (own.expire_time - clock.now).total_seconds() == 30


async def test_confirm_ships_the_units_and_emits_reservation_confirmed(uow: Uow) -> None:
    reserved = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((PAN, 2))
    )

    confirmed = await service.confirm_reservation(
        uow, idempotency_key=new_key(), reservation_id=reserved.reservation_id
    )
    again = await service.confirm_reservation(
        uow, idempotency_key=new_key(), reservation_id=reserved.reservation_id
    )

    assert confirmed.status is ReservationStatus.CONFIRMED
    assert again == confirmed  # a second confirmation with a new key changes nothing
    pan = await service.get_stock(uow, PAN)
    assert (pan.on_hand, pan.reserved) == (1, 0)
    assert [t for _, t in emitted(uow)] == [
        events_pb2.StockReserved,
        events_pb2.ReservationConfirmed,
    ]


async def test_release_returns_the_units_and_says_why(uow: Uow) -> None:
    reserved = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((PAN, 2))
    )

    released = await service.release_reservation(
        uow,
        idempotency_key=new_key(),
        reservation_id=reserved.reservation_id,
        detail="payment capture failed",
    )

    assert released.status is ReservationStatus.RELEASED
    assert (await service.get_stock(uow, PAN)).available == 3
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.ReservationReleased)
    assert event.reason == events_pb2.RELEASE_REASON_SAGA_COMPENSATION
    assert event.detail == "payment capture failed"


async def test_the_sweeper_expires_overdue_reservations_only(uow: Uow) -> None:
    clock = Clock()
    short = await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((PAN, 2), ttl_seconds=10), clock=clock
    )
    await service.reserve_stock(
        uow, idempotency_key=new_key(), request=request((PAN, 1), ttl_seconds=60), clock=clock
    )
    clock.advance(10)

    expired = await service.expire_due_reservations(uow, clock=clock)

    assert expired == 1
    assert reservations_of(uow).saved[short.reservation_id].status is ReservationStatus.EXPIRED
    assert (await service.get_stock(uow, PAN)).reserved == 1
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.ReservationReleased)
    assert event.reason == events_pb2.RELEASE_REASON_EXPIRED


async def test_the_sweeper_works_in_batches(uow: Uow) -> None:
    clock = Clock()
    for _ in range(3):
        await service.reserve_stock(
            uow, idempotency_key=new_key(), request=request((KNIFE, 1), ttl_seconds=1), clock=clock
        )
    clock.advance(1)

    batches = [await service.expire_due_reservations(uow, limit=2, clock=clock) for _ in range(3)]

    assert batches == [2, 1, 0]
    assert (await service.get_stock(uow, KNIFE)).reserved == 0


async def test_an_adjustment_is_recorded_with_its_reason(uow: Uow) -> None:
    created = await service.adjust_stock(
        uow, idempotency_key=new_key(), adjustment=Adjustment("NEW-SKU-1", 5, "goods receipt 1")
    )
    lowered = await service.adjust_stock(
        uow, idempotency_key=new_key(), adjustment=Adjustment(KNIFE, -2, "damaged in storage")
    )

    assert (created.on_hand, created.version) == (5, 1)
    assert (lowered.on_hand, lowered.version) == (8, 2)
    assert [(a.sku, a.delta, a.reason) for a in stock_of(uow).adjustments] == [
        ("NEW-SKU-1", 5, "goods receipt 1"),
        (KNIFE, -2, "damaged in storage"),
    ]
    assert emitted(uow) == [(f"stock/{KNIFE}", events_pb2.StockLow)]  # 10 -> 8, threshold 8


async def test_an_adjustment_below_the_reserved_units_is_refused(uow: Uow) -> None:
    await service.reserve_stock(uow, idempotency_key=new_key(), request=request((PAN, 2)))

    with pytest.raises(AdjustmentBelowReserved):
        await service.adjust_stock(
            uow, idempotency_key=new_key(), adjustment=Adjustment(PAN, -2, "stocktake")
        )
    assert stock_of(uow).adjustments == []


async def test_opening_stock_is_recorded_once_and_never_overwrites_stock(uow: Uow) -> None:
    opened = await service.open_stock(
        uow, idempotency_key=new_key(), opening=OpeningStock("NEW-SKU-1", 7, 2), reason="seed"
    )
    kept = await service.open_stock(
        uow, idempotency_key=new_key(), opening=OpeningStock(KNIFE, 99, 1), reason="seed"
    )

    assert (opened.on_hand, opened.low_stock_threshold) == (7, 2)
    assert (kept.on_hand, kept.low_stock_threshold) == (10, 1)
    assert [(a.sku, a.delta) for a in stock_of(uow).adjustments] == [("NEW-SKU-1", 7)]


async def test_unknown_sku_and_reservation_are_not_found(uow: Uow) -> None:
    with pytest.raises(StockLevelNotFound):
        await service.get_stock(uow, "NOPE-1")
    with pytest.raises(ReservationNotFound):
        await service.confirm_reservation(
            uow, idempotency_key=new_key(), reservation_id="00000000-0000-4000-8000-000000000000"
        )


# Every mutating command: a replay returns the first outcome and has no second effect; the
# same key with another request (variant 1 instead of 0) is refused.
Command = Callable[[Uow, str, int, list[str]], Awaitable[object]]


async def reserve(uow: Uow, key: str, variant: int, pending: list[str]) -> object:
    return await service.reserve_stock(
        uow, idempotency_key=key, request=request((KNIFE, variant + 1))
    )


async def confirm(uow: Uow, key: str, variant: int, pending: list[str]) -> object:
    return await service.confirm_reservation(
        uow, idempotency_key=key, reservation_id=pending[variant]
    )


async def release(uow: Uow, key: str, variant: int, pending: list[str]) -> object:
    return await service.release_reservation(
        uow, idempotency_key=key, reservation_id=pending[variant], detail=""
    )


async def adjust(uow: Uow, key: str, variant: int, pending: list[str]) -> object:
    return await service.adjust_stock(
        uow, idempotency_key=key, adjustment=Adjustment(KNIFE, variant + 1, "goods receipt")
    )


@pytest.mark.parametrize("command", [reserve, confirm, release, adjust])
async def test_a_replay_returns_the_first_outcome_and_a_reused_key_is_refused(
    uow: Uow, command: Command
) -> None:
    pending = [
        (
            await service.reserve_stock(uow, idempotency_key=new_key(), request=request((PAN, 1)))
        ).reservation_id
        for _ in range(2)
    ]
    key = new_key()
    first = await command(uow, key, 0, pending)
    commits, events = uow.commits, len(uow.committed)

    replay = await command(uow, key, 0, pending)

    assert replay == first
    assert (uow.commits, len(uow.committed)) == (commits, events)  # nothing new
    with pytest.raises(IdempotencyKeyReused):
        await command(uow, key, 1, pending)
