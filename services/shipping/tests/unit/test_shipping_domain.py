"""The shipment aggregate: its life (create, cancel, dispatch), what a cancelled order does
to it, and its invariants (pure, no database)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from shipping_examples import DISPATCH_DELAY, T0, address, new_id, shipment_request

from shipping import domain
from shipping.domain import (
    AlreadyDispatched,
    InvalidShipment,
    OrderCancellation,
    OrderCancellationEffect,
    ParcelLine,
    Pickup,
    Shipment,
    ShipmentAlreadyExists,
    ShipmentStatus,
)

T1 = T0 + timedelta(minutes=1)


def pending(order_id: str = "") -> Shipment:
    return domain.create(
        shipment_request(order_id),
        shipment_id=new_id(),
        pickup=Pickup("DHL", T0 + DISPATCH_DELAY),
        now=T0,
        live_shipment=None,
    )


def dispatched() -> Shipment:
    return domain.dispatch(pending(), T0 + DISPATCH_DELAY)


def test_a_new_shipment_is_pending_at_version_1_and_due_after_the_delay() -> None:
    request = shipment_request()

    shipment = domain.create(
        request,
        shipment_id=new_id(),
        pickup=Pickup("DHL", T0 + DISPATCH_DELAY),
        now=T0,
        live_shipment=None,
    )

    assert shipment.status is ShipmentStatus.PENDING
    assert shipment.version == 1
    assert (shipment.created_at, shipment.updated_at) == (T0, T0)
    assert shipment.dispatch_due_at == T0 + DISPATCH_DELAY
    assert (shipment.order_id, shipment.lines, shipment.address) == (
        request.order_id,
        request.lines,
        request.address,
    )
    assert shipment.carrier == "DHL"
    assert shipment.tracking_number.startswith("DHL")


def test_an_order_with_a_live_shipment_gets_no_second_one() -> None:
    first = pending()

    with pytest.raises(ShipmentAlreadyExists) as raised:
        domain.create(
            shipment_request(first.order_id),
            shipment_id=new_id(),
            pickup=Pickup("DHL", T1 + DISPATCH_DELAY),
            now=T1,
            live_shipment=first,
        )

    assert raised.value.metadata == {"order_id": first.order_id, "shipment_id": first.shipment_id}


def test_tracking_numbers_are_stable_per_shipment_and_differ_between_shipments() -> None:
    shipment_id = new_id()

    assert domain.tracking_number("DHL", shipment_id) == domain.tracking_number("DHL", shipment_id)
    assert domain.tracking_number("DHL", shipment_id) != domain.tracking_number("DHL", new_id())
    assert len(domain.tracking_number("UPS", shipment_id)) == 3 + 16


def test_cancelling_a_pending_shipment_records_why_and_makes_a_new_version() -> None:
    result = domain.cancel(pending(), "payment declined", T1)

    assert result.changed
    assert result.shipment.status is ShipmentStatus.CANCELLED
    assert result.shipment.cancel_reason == "payment declined"
    assert (result.shipment.version, result.shipment.updated_at) == (2, T1)
    assert not result.shipment.live


def test_cancelling_a_cancelled_shipment_changes_nothing() -> None:
    cancelled = domain.cancel(pending(), "first", T1).shipment

    again = domain.cancel(cancelled, "second", T1 + timedelta(minutes=1))

    assert not again.changed
    assert again.shipment == cancelled


@pytest.mark.parametrize("status", [ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED])
def test_a_shipment_with_the_carrier_cannot_be_cancelled(status: ShipmentStatus) -> None:
    shipment = replace(pending(), status=status)

    with pytest.raises(AlreadyDispatched) as raised:
        domain.cancel(shipment, "too late", T1)

    assert raised.value.metadata == {"shipment_id": shipment.shipment_id}


def test_a_due_shipment_is_dispatched_with_a_new_version() -> None:
    shipment = pending()
    due = shipment.dispatch_due_at

    assert not domain.is_due(shipment, due - timedelta(seconds=1))
    assert domain.is_due(shipment, due)
    sent = domain.dispatch(shipment, due)
    assert sent.status is ShipmentStatus.DISPATCHED
    assert (sent.version, sent.updated_at) == (2, due)
    assert sent.tracking_number == shipment.tracking_number


def test_only_a_due_pending_shipment_can_be_dispatched() -> None:
    with pytest.raises(InvalidShipment):
        domain.dispatch(pending(), T1)  # not due yet
    with pytest.raises(InvalidShipment):
        domain.dispatch(dispatched(), T0 + DISPATCH_DELAY * 2)  # not pending any more


def test_a_cancelled_order_cancels_its_pending_shipment() -> None:
    shipment = pending()

    outcome = domain.cancel_for_order(
        OrderCancellation(shipment.order_id, shipment.shipment_id, "order cancelled"),
        shipment,
        T1,
    )

    assert outcome.effect is OrderCancellationEffect.CANCELLED
    assert outcome.shipment is not None
    assert outcome.shipment.status is ShipmentStatus.CANCELLED
    assert outcome.shipment.cancel_reason == "order cancelled"


def test_a_cancelled_order_whose_shipment_left_is_too_late_not_an_error() -> None:
    shipment = dispatched()

    outcome = domain.cancel_for_order(
        OrderCancellation(shipment.order_id, "", "changed my mind"), shipment, T1
    )

    assert outcome.effect is OrderCancellationEffect.TOO_LATE
    assert outcome.shipment == shipment


def test_a_cancelled_order_without_its_own_shipment_has_no_effect() -> None:
    someone_elses = pending()

    assert (
        domain.cancel_for_order(OrderCancellation(new_id(), "", ""), None, T1).effect
        is OrderCancellationEffect.NO_SHIPMENT
    )
    mismatched = domain.cancel_for_order(
        OrderCancellation(new_id(), someone_elses.shipment_id, ""), someone_elses, T1
    )
    assert mismatched.effect is OrderCancellationEffect.NO_SHIPMENT


def test_a_cancelled_order_whose_shipment_was_already_cancelled_changes_nothing() -> None:
    cancelled = domain.cancel(pending(), "saga compensation", T1).shipment

    outcome = domain.cancel_for_order(
        OrderCancellation(cancelled.order_id, cancelled.shipment_id, "order cancelled"),
        cancelled,
        T1,
    )

    assert outcome.effect is OrderCancellationEffect.ALREADY_CANCELLED
    assert outcome.shipment == cancelled


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ((), "lines"),
        ((ParcelLine("A-1", 1), ParcelLine("A-1", 2)), "lines"),
    ],
)
def test_a_parcel_needs_lines_with_unique_skus(lines: tuple[ParcelLine, ...], field: str) -> None:
    with pytest.raises(InvalidShipment) as raised:
        shipment_request(lines=lines)
    assert raised.value.field == field


def test_quantities_and_country_codes_are_checked() -> None:
    with pytest.raises(InvalidShipment, match="quantity"):
        ParcelLine("A-1", 0)
    with pytest.raises(InvalidShipment, match="country_code"):
        address("de")
    with pytest.raises(InvalidShipment, match="lines"):
        address(lines=())
