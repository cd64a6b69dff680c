"""What shipping publishes (ShipmentCreated, ShipmentCancelled, ShipmentDispatched, each
about `shipments/<shipment_id>`) and what it consumes (orders' OrderCancelled). Where they
are published is declared in the contracts (events.proto)."""

from __future__ import annotations

from shipping.domain import OrderCancellation, Shipment
from shipping.messages import lines_to_proto, service_level_to_proto
from shop.orders.v1 import events_pb2 as orders_events
from shop.shipping.v1 import events_pb2


# --- published ------------------------------------------------------------------------------
def created(shipment: Shipment) -> events_pb2.ShipmentCreated:
    return events_pb2.ShipmentCreated(
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        customer_id=shipment.customer_id,
        lines=lines_to_proto(shipment.lines),
        service_level=service_level_to_proto(shipment.service_level),
        version=shipment.version,
    )


def cancelled(shipment: Shipment) -> events_pb2.ShipmentCancelled:
    return events_pb2.ShipmentCancelled(
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        customer_id=shipment.customer_id,
        reason=shipment.cancel_reason,
        version=shipment.version,
    )


def dispatched(shipment: Shipment) -> events_pb2.ShipmentDispatched:
    return events_pb2.ShipmentDispatched(
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        customer_id=shipment.customer_id,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        version=shipment.version,
    )


# --- consumed -------------------------------------------------------------------------------
def order_cancellation(event: orders_events.OrderCancelled) -> OrderCancellation:
    """What shipping needs of an OrderCancelled (the consumer validated it already)."""
    reason = f"order cancelled: {event.reason}" if event.reason else "order cancelled"
    return OrderCancellation(order_id=event.order_id, shipment_id=event.shipment_id, reason=reason)
