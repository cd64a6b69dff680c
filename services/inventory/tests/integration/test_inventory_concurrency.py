"""Inventory under real concurrency against Postgres: many transactions racing for the same
units at once, each on its own connection, as concurrent calls would.

Each test runs its racers on a pool large enough for all of them at once (and a generous
wait for a connection), so what is measured is how the transactions interleave, not the
pool's admission."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from inventory_examples import UnitsOfWork, new_key, request, stock_up
from sqlalchemy import func, select

from chassis.app import Runtime
from chassis.db import Database
from chassis.domain import DomainError
from chassis.testing import outbox_events
from inventory import service
from inventory.domain import (
    Adjustment,
    AdjustmentBelowReserved,
    CancellationEffect,
    InsufficientStock,
    OrderCancellation,
    Reservation,
    ReservationAlreadyConfirmed,
    ReservationAlreadyReleased,
    ReservationStatus,
)
from inventory.repository import Repositories
from inventory.tables import reservations, stock_adjustments
from shop.inventory.v1 import events_pb2

pytestmark = pytest.mark.anyio

KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"
RACERS = 16


@pytest.fixture
async def racers(runtime: Runtime) -> AsyncIterator[UnitsOfWork]:
    """Units of work on a pool with a connection for every racer (the `runtime` fixture
    also names the service, which the events' envelopes need)."""
    database = Database(runtime.settings.database_url, pool_size=RACERS + 2, pool_timeout_s=60)
    try:
        yield Runtime(runtime.settings, database).units_of_work(Repositories.on)
    finally:
        await database.dispose()


async def outcomes(calls: list[Awaitable[Any]]) -> tuple[list[Any], list[BaseException]]:
    """Runs the calls at once; what succeeded and what was refused. Anything but a domain
    refusal (a deadlock, a broken constraint) fails the test."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, DomainError):
            raise result
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    return won, lost


async def test_racing_for_the_last_units_exactly_as_many_win_as_there_are_units(
    racers: UnitsOfWork, db: Database
) -> None:
    await stock_up(racers, KNIFE, 5)

    won, lost = await outcomes(
        [
            service.reserve_stock(racers(), idempotency_key=new_key(), request=request((KNIFE, 1)))
            for _ in range(RACERS)
        ]
    )

    assert len(won) == 5
    assert len(lost) == RACERS - 5
    assert all(isinstance(refused, InsufficientStock) for refused in lost)
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved, level.version) == (5, 5, 6)
    async with db.transaction() as conn:
        stored = await conn.scalar(select(func.count()).select_from(reservations))
    assert stored == 5
    assert len(await outbox_events(db)) == 5


async def test_racing_multi_line_reservations_hold_all_lines_or_none(
    racers: UnitsOfWork,
) -> None:
    await stock_up(racers, KNIFE, 7)
    await stock_up(racers, PAN, 4)

    won, _ = await outcomes(
        [
            service.reserve_stock(
                racers(), idempotency_key=new_key(), request=request((KNIFE, 2), (PAN, 1))
            )
            for _ in range(RACERS)
        ]
    )

    assert len(won) == 3  # 7 knives hold 3 pairs; the pans would have held 4
    knife, pan = await service.get_stock(racers(), KNIFE), await service.get_stock(racers(), PAN)
    assert (knife.reserved, pan.reserved) == (6, 3)


async def test_reservations_naming_the_same_skus_in_opposite_orders_never_deadlock(
    racers: UnitsOfWork,
) -> None:
    # Without the conflict retries, a deadlock would surface as an error: none may.
    reserve_once: Callable[..., Awaitable[Reservation]] = inspect.unwrap(service.reserve_stock)
    await stock_up(racers, KNIFE, 6)
    await stock_up(racers, PAN, 6)
    orders = [((KNIFE, 1), (PAN, 1)), ((PAN, 1), (KNIFE, 1))]

    won, lost = await outcomes(
        [
            reserve_once(racers(), idempotency_key=new_key(), request=request(*orders[i % 2]))
            for i in range(RACERS)
        ]
    )

    assert (len(won), len(lost)) == (6, RACERS - 6)
    knife, pan = await service.get_stock(racers(), KNIFE), await service.get_stock(racers(), PAN)
    assert (knife.available, pan.available) == (0, 0)


async def test_a_confirm_racing_a_release_settles_the_reservation_exactly_once(
    racers: UnitsOfWork,
) -> None:
    await stock_up(racers, KNIFE, 8)
    pending = [
        await service.reserve_stock(
            racers(), idempotency_key=new_key(), request=request((KNIFE, 1))
        )
        for _ in range(8)
    ]

    won, lost = await outcomes(
        [
            call
            for reservation in pending
            for call in (
                service.confirm_reservation(
                    racers(), idempotency_key=new_key(), reservation_id=reservation.reservation_id
                ),
                service.release_reservation(
                    racers(),
                    idempotency_key=new_key(),
                    reservation_id=reservation.reservation_id,
                    detail="",
                ),
            )
        ]
    )

    assert len(won) == len(lost) == 8  # one settlement per reservation
    assert all(
        isinstance(refused, ReservationAlreadyConfirmed | ReservationAlreadyReleased)
        for refused in lost
    )
    confirmed = sum(r.status is ReservationStatus.CONFIRMED for r in won)
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved) == (8 - confirmed, 0)


async def test_adjustments_racing_reservations_never_leave_less_on_hand_than_reserved(
    racers: UnitsOfWork,
) -> None:
    await stock_up(racers, KNIFE, 8)

    def reserve() -> Awaitable[Reservation]:
        return service.reserve_stock(
            racers(), idempotency_key=new_key(), request=request((KNIFE, 1))
        )

    def remove() -> Awaitable[object]:
        return service.adjust_stock(
            racers(), idempotency_key=new_key(), adjustment=Adjustment(KNIFE, -1, "damaged")
        )

    won, lost = await outcomes([reserve() if i % 2 else remove() for i in range(RACERS)])

    reserved = sum(isinstance(r, Reservation) for r in won)
    removed = len(won) - reserved
    assert all(isinstance(r, InsufficientStock | AdjustmentBelowReserved) for r in lost)
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved) == (8 - removed, reserved)
    assert reserved + removed == 8  # every unit went to exactly one of them


async def test_racing_first_adjustments_of_a_new_sku_create_it_once(racers: UnitsOfWork) -> None:
    won, _ = await outcomes(
        [
            service.adjust_stock(
                racers(),
                idempotency_key=new_key(),
                adjustment=Adjustment("NEW-SKU-1", 1, "receipt"),
            )
            for _ in range(6)
        ]
    )

    assert sorted(level.version for level in won) == [1, 2, 3, 4, 5, 6]
    assert (await service.get_stock(racers(), "NEW-SKU-1")).on_hand == 6


async def test_the_same_key_sent_twice_at_once_reserves_once(
    racers: UnitsOfWork, db: Database
) -> None:
    await stock_up(racers, KNIFE, 5)
    key = new_key()

    won, _ = await outcomes(
        [
            service.reserve_stock(racers(), idempotency_key=key, request=request((KNIFE, 2)))
            for _ in range(4)
        ]
    )

    assert len({r.reservation_id for r in won}) == 1
    assert len(won) == 4
    assert (await service.get_stock(racers(), KNIFE)).reserved == 2
    assert len(await outbox_events(db)) == 1


# --- an order's cancellation (OrderCancelled) racing the saga's own commands ----------------


# Without the conflict retries (@retry_conflicts), so that a deadlock would surface as an
# error: the cancellation locks in the order Confirm and Release do, so none may.
cancel_once: Callable[..., Awaitable[service.CancellationOutcome]] = inspect.unwrap(
    service.release_or_restock_cancelled_order
)
release_once: Callable[..., Awaitable[Reservation]] = inspect.unwrap(service.release_reservation)
confirm_once: Callable[..., Awaitable[Reservation]] = inspect.unwrap(service.confirm_reservation)


def cancel(
    racers: UnitsOfWork, reservation: Reservation, key: str | None = None
) -> Awaitable[service.CancellationOutcome]:
    return cancel_once(
        racers(),
        event_key=key or new_key(),
        cancellation=OrderCancellation(reservation.order_id, reservation.reservation_id, ""),
    )


async def pending_knives(racers: UnitsOfWork, count: int) -> list[Reservation]:
    await stock_up(racers, KNIFE, count)
    return [
        await service.reserve_stock(
            racers(), idempotency_key=new_key(), request=request((KNIFE, 1))
        )
        for _ in range(count)
    ]


async def test_a_cancellation_racing_a_saga_compensation_releases_each_reservation_once(
    racers: UnitsOfWork, db: Database
) -> None:
    pending = await pending_knives(racers, 8)

    won, lost = await outcomes(
        [
            call
            for reservation in pending
            for call in (
                cancel(racers, reservation),
                release_once(
                    racers(),
                    idempotency_key=new_key(),
                    reservation_id=reservation.reservation_id,
                    detail="saga compensates",
                ),
            )
        ]
    )

    assert lost == []  # neither refuses: releasing what is released changes nothing
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved) == (8, 0)
    by_cancellation = {
        o.reservation.reservation_id
        for o in won
        if isinstance(o, service.CancellationOutcome)
        and o.effect is CancellationEffect.RELEASED
        and o.reservation is not None
    }
    for reservation in pending:
        released = [
            e.data
            for e in await outbox_events(db, aggregate=f"reservations/{reservation.reservation_id}")
            if isinstance(e.data, events_pb2.ReservationReleased)
        ]
        assert len(released) == 1, reservation  # one release, by whichever came first
        expected = (
            events_pb2.RELEASE_REASON_ORDER_CANCELLED
            if reservation.reservation_id in by_cancellation
            else events_pb2.RELEASE_REASON_SAGA_COMPENSATION
        )
        assert released[0].reason == expected


async def test_a_cancellation_racing_a_confirmation_always_gives_the_units_back(
    racers: UnitsOfWork,
) -> None:
    pending = await pending_knives(racers, 8)

    won, lost = await outcomes(
        [
            call
            for reservation in pending
            for call in (
                cancel(racers, reservation),
                confirm_once(
                    racers(), idempotency_key=new_key(), reservation_id=reservation.reservation_id
                ),
            )
        ]
    )

    # Released first: the confirmation is refused. Confirmed first: the cancellation
    # restocks. Either way every unit is back and none is held.
    assert all(isinstance(refused, ReservationAlreadyReleased) for refused in lost)
    effects = [o.effect for o in won if isinstance(o, service.CancellationOutcome)]
    assert len(effects) == 8
    assert effects.count(CancellationEffect.RELEASED) == len(lost)
    assert effects.count(CancellationEffect.RESTOCKED) == 8 - len(lost)
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved) == (8, 0)


async def test_a_cancellation_delivered_again_while_the_first_runs_restocks_once(
    racers: UnitsOfWork, db: Database
) -> None:
    pending = await pending_knives(racers, 4)
    for reservation in pending:
        await service.confirm_reservation(
            racers(), idempotency_key=new_key(), reservation_id=reservation.reservation_id
        )
    keys = {r.reservation_id: (new_key(), new_key()) for r in pending}

    # Per reservation: the same event twice (an ack that came too late) and another
    # event for it twice (a replay), all at once.
    won, lost = await outcomes(
        [
            cancel(racers, reservation, key)
            for reservation in pending
            for key in keys[reservation.reservation_id] * 2
        ]
    )

    assert lost == []
    effects = [o.effect for o in won]
    # Per reservation, the event that came first restocked (both its deliveries answer
    # so); the other found it restocked (both of its deliveries too).
    assert effects.count(CancellationEffect.RESTOCKED) == 2 * 4
    assert effects.count(CancellationEffect.ALREADY_RESTOCKED) == 2 * 4
    level = await service.get_stock(racers(), KNIFE)
    assert (level.on_hand, level.reserved) == (4, 0)
    async with db.transaction() as conn:
        restocks = await conn.scalar(
            select(func.count())
            .select_from(stock_adjustments)
            .where(stock_adjustments.c.reservation_id.is_not(None))
        )
    assert restocks == 4
