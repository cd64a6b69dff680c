"""An order's cancellation (orders' OrderCancelled), inventory's part of the choreographed
cancel: the decision (pure), the event it publishes, and the use case in memory.

- PENDING reservation: released, reason ORDER_CANCELLED (an overdue one: expired).
- CONFIRMED reservation: restocked once, one adjustment per line naming the order; no
  event (the contract has none for it).
- Released, expired, unknown or no reservation: nothing, and no error.
- Another order's reservation: refused (the event is dead-lettered)."""

from __future__ import annotations

import logging
from datetime import timedelta

import protovalidate
import pytest
from inventory_examples import ORDER_ID, T0, Clock, level, new_key, request
from inventory_fakes import in_memory_uow, reservations_of, stock_of

from chassis.testing import InMemoryUnitOfWork
from inventory import events, service
from inventory.domain import (
    CancellationEffect,
    InvariantViolated,
    OrderCancellation,
    Reservation,
    ReservationOrderMismatch,
    ReservationStatus,
    StockLevel,
    confirm,
    expire,
    release,
    reserve,
    restock,
    settle_cancellation,
)
from inventory.repository import Repositories
from shop.inventory.v1 import events_pb2, reservation_pb2
from shop.orders.v1 import events_pb2 as orders_events

TTL = timedelta(minutes=15)
RESERVATION_ID = "3a8f2c1d-5e6b-4a7c-9d0e-1f2a3b4c5d6e"
OTHER_ORDER = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"


def cancellation(
    reservation_id: str | None = RESERVATION_ID, *, order_id: str = ORDER_ID, reason: str = ""
) -> OrderCancellation:
    return OrderCancellation(order_id=order_id, reservation_id=reservation_id, reason=reason)


def pending() -> tuple[Reservation, dict[str, StockLevel]]:
    """A PENDING reservation of 2 knives and 1 pan, and the levels it left."""
    change = reserve(
        {KNIFE: level(KNIFE, on_hand=10), PAN: level(PAN, on_hand=3)},
        request((KNIFE, 2), (PAN, 1)),
        reservation_id=RESERVATION_ID,
        ttl=TTL,
        now=T0,
    )
    return change.reservation, {lv.sku: lv for lv in change.levels}


def confirmed() -> tuple[Reservation, dict[str, StockLevel]]:
    """The same reservation CONFIRMED: its units left on_hand (8 knives, 2 pans)."""
    reservation, levels = pending()
    change = confirm(reservation, levels, T0)
    return change.reservation, {lv.sku: lv for lv in change.levels}


def units(levels: dict[str, StockLevel] | tuple[StockLevel, ...]) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) per SKU."""
    values = levels.values() if isinstance(levels, dict) else levels
    return {lv.sku: (lv.on_hand, lv.reserved) for lv in values}


# --- the decision ---------------------------------------------------------------------------


def test_a_pending_reservation_is_released_because_the_order_was_cancelled() -> None:
    reservation, levels = pending()

    change = settle_cancellation(
        cancellation(reason="changed my mind"), reservation, levels, restocked=False, now=T0
    )

    assert change.effect is CancellationEffect.RELEASED
    assert change.effect.changed
    assert change.reservation is not None
    assert change.reservation.status is ReservationStatus.RELEASED
    assert change.reservation.version == reservation.version + 1
    assert change.released is not None
    assert units(change.released.levels) == {KNIFE: (10, 0), PAN: (3, 0)}  # available again
    assert change.released.detail == "order cancelled: changed my mind"
    assert change.restocks == ()


def test_an_overdue_pending_reservation_is_expired_as_a_release_would() -> None:
    reservation, levels = pending()

    change = settle_cancellation(cancellation(), reservation, levels, restocked=False, now=T0 + TTL)

    assert change.effect is CancellationEffect.EXPIRED
    assert change.reservation is not None
    assert change.reservation.status is ReservationStatus.EXPIRED
    assert change.released is not None
    assert units(change.released.levels) == {KNIFE: (10, 0), PAN: (3, 0)}


def test_a_confirmed_reservation_is_restocked_with_an_adjustment_per_line() -> None:
    reservation, levels = confirmed()

    change = settle_cancellation(cancellation(), reservation, levels, restocked=False, now=T0)

    assert change.effect is CancellationEffect.RESTOCKED
    assert change.reservation == reservation  # stays CONFIRMED: no status for "restocked"
    assert change.released is None
    assert units(tuple(r.level for r in change.restocks)) == {KNIFE: (10, 0), PAN: (3, 0)}
    assert [r.level.version for r in change.restocks] == [levels[KNIFE].version + 1] * 2
    assert [(r.adjustment.sku, r.adjustment.delta) for r in change.restocks] == [
        (KNIFE, 2),
        (PAN, 1),
    ]
    reason = change.restocks[0].adjustment.reason
    assert ORDER_ID in reason
    assert RESERVATION_ID in reason


def test_a_confirmed_reservation_restocked_before_is_not_restocked_again() -> None:
    reservation, levels = confirmed()

    change = settle_cancellation(cancellation(), reservation, levels, restocked=True, now=T0)

    assert change.effect is CancellationEffect.ALREADY_RESTOCKED
    assert not change.effect.changed
    assert (change.released, change.restocks) == (None, ())


def test_a_released_or_expired_reservation_is_left_alone() -> None:
    reservation, levels = pending()
    released = release(reservation, levels, "payment failed", T0).reservation
    expired = expire(reservation, levels, T0 + TTL).reservation

    for ended in (released, expired):
        change = settle_cancellation(cancellation(), ended, {}, restocked=False, now=T0 + TTL)

        assert change.effect is CancellationEffect.ALREADY_ENDED
        assert change.reservation == ended
        assert (change.released, change.restocks) == (None, ())


def test_no_reservation_named_or_none_known_is_nothing_to_do() -> None:
    none_made = settle_cancellation(cancellation(None), None, {}, restocked=False, now=T0)
    unknown = settle_cancellation(cancellation(), None, {}, restocked=False, now=T0)

    assert none_made.effect is CancellationEffect.NONE_MADE
    assert unknown.effect is CancellationEffect.UNKNOWN
    assert not none_made.effect.changed
    assert not unknown.effect.changed


def test_another_orders_reservation_is_refused() -> None:
    reservation, levels = pending()

    with pytest.raises(ReservationOrderMismatch) as refused:
        settle_cancellation(
            cancellation(order_id=OTHER_ORDER), reservation, levels, restocked=False, now=T0
        )

    assert refused.value.metadata == {
        "reservation_id": RESERVATION_ID,
        "order_id": ORDER_ID,
        "cancelled_order_id": OTHER_ORDER,
    }


def test_only_a_confirmed_reservation_is_restocked() -> None:
    reservation, levels = pending()

    with pytest.raises(InvariantViolated):
        restock(reservation, levels, "restock", T0)


def test_the_detail_fits_the_contract_whatever_the_customer_wrote() -> None:
    assert cancellation().detail == "order cancelled"
    assert len(cancellation(reason="x" * 500).detail) == 500


# --- what it publishes, and what it reads of OrderCancelled ---------------------------------


def test_a_release_by_cancellation_publishes_reservation_released_order_cancelled() -> None:
    reservation, levels = pending()
    change = settle_cancellation(
        cancellation(reason="y" * 500), reservation, levels, restocked=False, now=T0
    )
    assert change.released is not None

    [(aggregate, event)] = events.reservation_events(change.released)

    assert aggregate == RESERVATION_ID
    assert event == events_pb2.ReservationReleased(
        reservation_id=RESERVATION_ID,
        order_id=ORDER_ID,
        lines=[
            reservation_pb2.ReservationLine(sku=KNIFE, quantity=2),
            reservation_pb2.ReservationLine(sku=PAN, quantity=1),
        ],
        reason=events_pb2.RELEASE_REASON_ORDER_CANCELLED,
        detail=("order cancelled: " + "y" * 500)[:500],
    )
    protovalidate.validate(event)  # what consumers check before anything else


def test_order_cancellation_reads_an_empty_reservation_id_as_none() -> None:
    event = orders_events.OrderCancelled(
        order_id=ORDER_ID, customer_id="customer-1", reservation_id="", reason="too slow"
    )

    assert events.order_cancellation(event) == cancellation(None, reason="too slow")
    event.reservation_id = RESERVATION_ID
    assert events.order_cancellation(event) == cancellation(reason="too slow")


# --- the use case, in memory ----------------------------------------------------------------

Uow = InMemoryUnitOfWork[Repositories]


@pytest.fixture
def uow() -> Uow:
    return in_memory_uow(level(KNIFE, on_hand=10), level(PAN, on_hand=3))


async def reserved(uow: Uow, clock: Clock | None = None) -> Reservation:
    return await service.reserve_stock(
        uow,
        idempotency_key=new_key(),
        request=request((KNIFE, 2), (PAN, 1), ttl_seconds=60),
        clock=clock or Clock(),
    )


async def cancel(
    uow: Uow, reservation_id: str | None, *, key: str | None = None, clock: Clock | None = None
) -> service.CancellationOutcome:
    return await service.release_or_restock_cancelled_order(
        uow,
        event_key=key or new_key(),
        cancellation=cancellation(reservation_id, reason="changed my mind"),
        clock=clock or Clock(),
    )


def stock_units(uow: Uow) -> dict[str, tuple[int, int]]:
    return units(stock_of(uow).saved)


@pytest.mark.anyio
async def test_cancelling_a_pending_reservation_releases_it_and_says_so(uow: Uow) -> None:
    reservation = await reserved(uow)

    outcome = await cancel(uow, reservation.reservation_id)

    assert outcome.effect is CancellationEffect.RELEASED
    assert outcome.reservation == reservations_of(uow).saved[reservation.reservation_id]
    assert outcome.reservation.status is ReservationStatus.RELEASED
    assert stock_units(uow) == {KNIFE: (10, 0), PAN: (3, 0)}
    released = uow.committed[-1]
    assert released.aggregate == f"reservations/{reservation.reservation_id}"
    assert isinstance(released.event, events_pb2.ReservationReleased)
    assert released.event.reason == events_pb2.RELEASE_REASON_ORDER_CANCELLED
    assert released.event.detail == "order cancelled: changed my mind"
    assert stock_of(uow).adjustments == []  # on_hand never moved


@pytest.mark.anyio
async def test_cancelling_a_confirmed_reservation_restocks_it_once_per_reservation(
    uow: Uow,
) -> None:
    reservation = await reserved(uow)
    await service.confirm_reservation(
        uow, idempotency_key=new_key(), reservation_id=reservation.reservation_id, clock=Clock()
    )
    events_before = len(uow.committed)
    key = new_key()

    first = await cancel(uow, reservation.reservation_id, key=key)
    redelivered = await cancel(uow, reservation.reservation_id, key=key)
    another_event = await cancel(uow, reservation.reservation_id)  # another id: a replay

    assert first.effect is CancellationEffect.RESTOCKED
    assert redelivered == first
    assert another_event.effect is CancellationEffect.ALREADY_RESTOCKED
    assert stock_units(uow) == {KNIFE: (10, 0), PAN: (3, 0)}
    assert [(a.sku, a.delta, a.reservation_id) for a in stock_of(uow).adjustments] == [
        (KNIFE, 2, reservation.reservation_id),
        (PAN, 1, reservation.reservation_id),
    ]
    assert all(ORDER_ID in a.reason for a in stock_of(uow).adjustments)
    [restocked] = [e.event for e in uow.committed[events_before:]]  # once per reservation
    assert isinstance(restocked, events_pb2.ReservationRestocked)
    assert (restocked.order_id, restocked.reservation_id) == (
        ORDER_ID,
        reservation.reservation_id,
    )
    assert [(line.sku, line.quantity) for line in restocked.lines] == [(KNIFE, 2), (PAN, 1)]
    assert reservations_of(uow).saved[reservation.reservation_id].status is (
        ReservationStatus.CONFIRMED
    )


@pytest.mark.anyio
async def test_a_redelivery_of_a_release_has_no_second_effect(uow: Uow) -> None:
    reservation = await reserved(uow)
    key = new_key()
    first = await cancel(uow, reservation.reservation_id, key=key)
    commits, emitted = uow.commits, len(uow.committed)

    again = await cancel(uow, reservation.reservation_id, key=key)

    assert again == first
    assert (uow.commits, len(uow.committed)) == (commits, emitted)


@pytest.mark.anyio
async def test_cancelling_an_overdue_reservation_expires_it(uow: Uow) -> None:
    clock = Clock()
    reservation = await reserved(uow, clock)
    clock.advance(60)

    outcome = await cancel(uow, reservation.reservation_id, clock=clock)

    assert outcome.effect is CancellationEffect.EXPIRED
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.ReservationReleased)
    assert event.reason == events_pb2.RELEASE_REASON_EXPIRED
    assert stock_units(uow) == {KNIFE: (10, 0), PAN: (3, 0)}


@pytest.mark.anyio
async def test_what_holds_nothing_is_handled_as_a_no_op_logged_at_info(
    uow: Uow, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    released = await reserved(uow, clock)
    await service.release_reservation(
        uow,
        idempotency_key=new_key(),
        reservation_id=released.reservation_id,
        detail="",
        clock=clock,
    )
    expired = await reserved(uow, clock)
    clock.advance(60)
    await service.expire_due_reservations(uow, clock=clock)
    emitted, stock = len(uow.committed), stock_units(uow)

    with caplog.at_level(logging.INFO, logger="inventory.service"):
        effects = [
            (await cancel(uow, reservation_id, clock=clock)).effect
            for reservation_id in (
                released.reservation_id,
                expired.reservation_id,
                "00000000-0000-4000-8000-000000000000",
                None,
            )
        ]

    assert effects == [
        CancellationEffect.ALREADY_ENDED,
        CancellationEffect.ALREADY_ENDED,
        CancellationEffect.UNKNOWN,
        CancellationEffect.NONE_MADE,
    ]
    assert (len(uow.committed), stock_units(uow)) == (emitted, stock)
    no_ops = [r for r in caplog.records if "nothing to do" in r.getMessage()]
    assert [r.levelno for r in no_ops] == [logging.INFO] * 4
    assert "was already RELEASED" in no_ops[0].getMessage()
    assert "was already EXPIRED" in no_ops[1].getMessage()


@pytest.mark.anyio
async def test_another_orders_reservation_is_refused_and_nothing_is_committed(uow: Uow) -> None:
    reservation = await reserved(uow)
    commits = uow.commits

    with pytest.raises(ReservationOrderMismatch):
        await service.release_or_restock_cancelled_order(
            uow,
            event_key=new_key(),
            cancellation=cancellation(reservation.reservation_id, order_id=OTHER_ORDER),
        )

    assert uow.commits == commits
    assert reservations_of(uow).saved[reservation.reservation_id] == reservation
