"""Domain <-> contract: what the servicer and the events put on the wire."""

from __future__ import annotations

from dataclasses import replace

import protovalidate
from shipping_examples import DISPATCH_DELAY, T0, new_id, shipment_request

from shipping import domain, events, messages
from shipping.domain import Pickup, ServiceLevel, Shipment, ShipmentStatus
from shop.common.v1 import money_pb2
from shop.orders.v1 import events_pb2 as orders_events
from shop.orders.v1 import order_pb2
from shop.shipping.v1 import shipment_pb2


def pending() -> Shipment:
    return domain.create(
        shipment_request(),
        shipment_id=new_id(),
        pickup=Pickup("DHL", T0 + DISPATCH_DELAY),
        now=T0,
        live_shipment=None,
    )


def test_service_levels_map_to_the_contracts_values_both_ways() -> None:
    for level in ServiceLevel:
        number = messages.service_level_to_proto(level)
        assert shipment_pb2.ServiceLevel.Name(number) == f"SERVICE_LEVEL_{level.value}"
        assert messages.service_level_from_proto(number) is level


def test_every_status_has_its_contract_value() -> None:
    assert {messages.status_to_proto(s) for s in ShipmentStatus} == {
        shipment_pb2.SHIPMENT_STATUS_PENDING,
        shipment_pb2.SHIPMENT_STATUS_DISPATCHED,
        shipment_pb2.SHIPMENT_STATUS_DELIVERED,
        shipment_pb2.SHIPMENT_STATUS_CANCELLED,
    }


def test_carrier_and_tracking_number_are_shown_only_once_dispatched() -> None:
    shipment = pending()

    before = messages.shipment_to_proto(shipment)
    after = messages.shipment_to_proto(domain.dispatch(shipment, shipment.dispatch_due_at))

    assert (before.carrier, before.tracking_number) == ("", "")
    assert (after.carrier, after.tracking_number) == ("DHL", shipment.tracking_number)
    assert after.status == shipment_pb2.SHIPMENT_STATUS_DISPATCHED
    assert after.version == 2


def test_a_shipment_message_carries_what_was_asked_for() -> None:
    shipment = pending()

    message = messages.shipment_to_proto(shipment)

    assert message.shipment_id == shipment.shipment_id
    assert messages.address_from_proto(message.address) == shipment.address
    assert messages.lines_from_proto(message.lines) == shipment.lines
    assert message.create_time.ToDatetime().replace(tzinfo=T0.tzinfo) == T0


def test_the_published_events_obey_their_contracts_rules() -> None:
    shipment = pending()
    cancelled = domain.cancel(shipment, "payment declined", T0).shipment
    dispatched = domain.dispatch(shipment, shipment.dispatch_due_at)

    for event in (
        events.created(shipment),
        events.cancelled(cancelled),
        events.dispatched(dispatched),
    ):
        protovalidate.validate(event)


def test_an_order_cancelled_event_becomes_the_cancellation_shipping_handles() -> None:
    order_id, shipment_id = new_id(), new_id()
    event = orders_events.OrderCancelled(
        order_id=order_id,
        customer_id="customer-7",
        shipment_id=shipment_id,
        lines=[order_pb2.OrderLine(sku="KIT-KNIFE-1", quantity=1)],
        total=money_pb2.Money(currency_code="EUR", amount_minor=100),
        reason="found it cheaper",
    )

    cancellation = events.order_cancellation(event)
    without_reason = events.order_cancellation(replace_reason(event, ""))

    assert cancellation == domain.OrderCancellation(
        order_id, shipment_id, "order cancelled: found it cheaper"
    )
    assert without_reason.reason == "order cancelled"


def replace_reason(
    event: orders_events.OrderCancelled, reason: str
) -> orders_events.OrderCancelled:
    copy = orders_events.OrderCancelled()
    copy.CopyFrom(event)
    copy.reason = reason
    return copy


def test_a_shipment_survives_the_idempotency_record() -> None:
    # What a replay returns comes back through chassis.records; it must be the same value.
    from chassis import records  # noqa: PLC0415 - only this test needs it

    shipment = replace(pending(), cancel_reason="x")

    assert records.load(Shipment, records.dump(shipment)) == shipment
