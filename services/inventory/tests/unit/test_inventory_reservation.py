"""Reservations as TCC (pure, no database): reserve holds all lines or none; confirm, release
and expire move the held units exactly once, and every other transition is answered as the
contract's ReservationStatus and error reasons say."""

from __future__ import annotations

from datetime import timedelta

import pytest
from inventory_examples import T0, level, request

from inventory.domain import (
    InsufficientStock,
    InvariantViolated,
    Reservation,
    ReservationAlreadyConfirmed,
    ReservationAlreadyReleased,
    ReservationExpired,
    ReservationStatus,
    Shortage,
    StockLevel,
    confirm,
    expire,
    release,
    reserve,
)

TTL = timedelta(minutes=15)
RESERVATION_ID = "3a8f2c1d-5e6b-4a7c-9d0e-1f2a3b4c5d6e"
KNIFE, PAN = "KIT-KNIFE-1", "KIT-PAN-2"


def stock(*levels: StockLevel) -> dict[str, StockLevel]:
    return {lv.sku: lv for lv in levels}


def pending(**levels: int) -> tuple[Reservation, dict[str, StockLevel]]:
    """A fresh PENDING reservation of 2 knives and 1 pan, and the levels after it."""
    change = reserve(
        stock(level(KNIFE, on_hand=10), level(PAN, on_hand=3, threshold=1)),
        request((KNIFE, 2), (PAN, 1)),
        reservation_id=RESERVATION_ID,
        ttl=TTL,
        now=T0,
    )
    return change.reservation, stock(*change.levels)


def test_reserve_holds_every_line_and_reports_levels_that_ran_low() -> None:
    change = reserve(
        stock(level(KNIFE, on_hand=10), level(PAN, on_hand=3, threshold=1)),
        request((KNIFE, 2), (PAN, 2)),
        reservation_id=RESERVATION_ID,
        ttl=TTL,
        now=T0,
    )

    reservation = change.reservation
    assert reservation.status is ReservationStatus.PENDING
    assert (reservation.expire_time, reservation.version) == (T0 + TTL, 1)
    assert [(lv.sku, lv.on_hand, lv.reserved, lv.version) for lv in change.levels] == [
        (KNIFE, 10, 2, 2),
        (PAN, 3, 2, 2),
    ]
    assert [lv.sku for lv in change.low] == [PAN]  # available 3 -> 1, threshold 1


def test_reserve_refuses_all_lines_when_any_is_short_naming_each_short_sku() -> None:
    with pytest.raises(InsufficientStock) as refused:
        reserve(
            stock(level(KNIFE, on_hand=10, reserved=9), level(PAN, on_hand=3)),
            request((KNIFE, 2), (PAN, 3), ("UNKNOWN-SKU", 1)),
            reservation_id=RESERVATION_ID,
            ttl=TTL,
            now=T0,
        )

    assert refused.value.shortages == (
        Shortage(KNIFE, requested=2, available=1),
        Shortage("UNKNOWN-SKU", requested=1, available=0),  # unknown counts as 0
    )


def test_reserve_may_take_the_last_unit() -> None:
    change = reserve(
        stock(level(KNIFE, on_hand=2, reserved=1)),
        request((KNIFE, 1)),
        reservation_id=RESERVATION_ID,
        ttl=TTL,
        now=T0,
    )

    assert change.levels[0].available == 0


@pytest.mark.parametrize(
    "lines",
    [(), ((KNIFE, 1), (KNIFE, 2)), ((KNIFE, 0),), tuple((f"SKU-{i}", 1) for i in range(51))],
)
def test_a_request_that_breaks_an_invariant_cannot_exist(
    lines: tuple[tuple[str, int], ...],
) -> None:
    with pytest.raises(InvariantViolated):
        request(*lines)


def test_confirm_takes_the_units_out_of_on_hand_and_reserved() -> None:
    reservation, levels = pending()

    change = confirm(reservation, levels, T0 + timedelta(minutes=1))

    assert change.reservation.status is ReservationStatus.CONFIRMED
    assert change.reservation.version == 2
    assert [(lv.on_hand, lv.reserved) for lv in change.levels] == [(8, 0), (2, 0)]
    assert change.low == ()  # available does not change when units ship


def test_confirming_a_confirmed_reservation_changes_nothing() -> None:
    reservation, levels = pending()
    confirmed = confirm(reservation, levels, T0).reservation

    again = confirm(confirmed, {}, T0)

    assert again.reservation == confirmed
    assert not again.changed


def test_a_released_reservation_cannot_be_confirmed() -> None:
    reservation, levels = pending()
    released = release(reservation, levels, "payment failed", T0).reservation

    with pytest.raises(ReservationAlreadyReleased):
        confirm(released, {}, T0)


def test_an_expired_reservation_cannot_be_confirmed() -> None:
    reservation, levels = pending()
    expired = expire(reservation, levels, T0 + TTL).reservation

    with pytest.raises(ReservationExpired):
        confirm(expired, {}, T0 + TTL)


def test_an_overdue_reservation_cannot_be_confirmed_before_the_sweeper_expired_it() -> None:
    reservation, levels = pending()

    with pytest.raises(ReservationExpired):
        confirm(reservation, levels, T0 + TTL)


def test_release_makes_the_units_available_again() -> None:
    reservation, levels = pending()

    change = release(reservation, levels, "payment failed", T0 + timedelta(minutes=1))

    assert change.reservation.status is ReservationStatus.RELEASED
    assert change.detail == "payment failed"
    assert [(lv.on_hand, lv.reserved) for lv in change.levels] == [(10, 0), (3, 0)]


def test_releasing_an_ended_reservation_changes_nothing() -> None:
    reservation, levels = pending()
    released = release(reservation, levels, "", T0).reservation
    expired = expire(reservation, levels, T0 + TTL).reservation

    assert not release(released, {}, "again", T0).changed
    assert release(expired, {}, "again", T0 + TTL).reservation == expired


def test_a_confirmed_reservation_cannot_be_released() -> None:
    reservation, levels = pending()
    confirmed = confirm(reservation, levels, T0).reservation

    with pytest.raises(ReservationAlreadyConfirmed):
        release(confirmed, {}, "too late", T0)


def test_releasing_an_overdue_reservation_expires_it() -> None:
    reservation, levels = pending()

    change = release(reservation, levels, "saga gave up", T0 + TTL)

    assert change.reservation.status is ReservationStatus.EXPIRED
    assert [lv.reserved for lv in change.levels] == [0, 0]


def test_expire_returns_the_units_of_an_overdue_pending_reservation_only() -> None:
    reservation, levels = pending()

    early = expire(reservation, levels, T0 + TTL - timedelta(seconds=1))
    due = expire(reservation, levels, T0 + TTL)

    assert not early.changed
    assert due.reservation.status is ReservationStatus.EXPIRED
    assert due.reservation.updated_at == T0 + TTL
    assert [(lv.on_hand, lv.reserved) for lv in due.levels] == [(10, 0), (3, 0)]
    assert not expire(due.reservation, stock(*due.levels), T0 + TTL).changed
