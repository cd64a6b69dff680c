"""Conversions between the contract's messages and the domain, shared by the gRPC API and
the events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from shipping.domain import (
    Address,
    Money,
    ParcelLine,
    ServiceLevel,
    Shipment,
    ShipmentRequest,
    ShipmentStatus,
)
from shipping.rates import ShippingOption
from shop.common.v1 import address_pb2, money_pb2
from shop.shipping.v1 import shipment_pb2, shipping_service_pb2

_LEVEL_PREFIX = "SERVICE_LEVEL_"
_STATUS_PREFIX = "SHIPMENT_STATUS_"


def service_level_to_proto(level: ServiceLevel) -> shipment_pb2.ServiceLevel.ValueType:
    return shipment_pb2.ServiceLevel.Value(_LEVEL_PREFIX + level.value)


def service_level_from_proto(value: shipment_pb2.ServiceLevel.ValueType) -> ServiceLevel:
    """The contract refuses UNSPECIFIED and unknown numbers before this is reached."""
    return ServiceLevel(shipment_pb2.ServiceLevel.Name(value).removeprefix(_LEVEL_PREFIX))


def status_to_proto(status: ShipmentStatus) -> shipment_pb2.ShipmentStatus.ValueType:
    return shipment_pb2.ShipmentStatus.Value(_STATUS_PREFIX + status.value)


def address_from_proto(message: address_pb2.Address) -> Address:
    return Address(
        recipient=message.recipient,
        lines=tuple(message.lines),
        locality=message.locality,
        region=message.region,
        postal_code=message.postal_code,
        country_code=message.country_code,
    )


def address_to_proto(address: Address) -> address_pb2.Address:
    return address_pb2.Address(
        recipient=address.recipient,
        lines=address.lines,
        locality=address.locality,
        region=address.region,
        postal_code=address.postal_code,
        country_code=address.country_code,
    )


def lines_from_proto(
    messages: Iterable[shipment_pb2.ShipmentLine | shipping_service_pb2.QuoteLine],
) -> tuple[ParcelLine, ...]:
    return tuple(ParcelLine(line.sku, line.quantity) for line in messages)


def lines_to_proto(lines: Iterable[ParcelLine]) -> list[shipment_pb2.ShipmentLine]:
    return [shipment_pb2.ShipmentLine(sku=line.sku, quantity=line.quantity) for line in lines]


def shipment_request_from_proto(
    message: shipping_service_pb2.CreateShipmentRequest,
) -> ShipmentRequest:
    return ShipmentRequest(
        order_id=message.order_id,
        customer_id=message.customer_id,
        address=address_from_proto(message.address),
        lines=lines_from_proto(message.lines),
        service_level=service_level_from_proto(message.service_level),
    )


def shipment_to_proto(shipment: Shipment) -> shipment_pb2.Shipment:
    message = shipment_pb2.Shipment(
        shipment_id=shipment.shipment_id,
        order_id=shipment.order_id,
        customer_id=shipment.customer_id,
        status=status_to_proto(shipment.status),
        address=address_to_proto(shipment.address),
        lines=lines_to_proto(shipment.lines),
        service_level=service_level_to_proto(shipment.service_level),
        create_time=_timestamp(shipment.created_at),
        update_time=_timestamp(shipment.updated_at),
        version=shipment.version,
    )
    if shipment.with_carrier:  # the contract: "empty until dispatched"
        message.carrier = shipment.carrier
        message.tracking_number = shipment.tracking_number
    return message


def money_to_proto(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, amount_minor=money.amount_minor)


def option_to_proto(option: ShippingOption) -> shipping_service_pb2.ShippingOption:
    return shipping_service_pb2.ShippingOption(
        service_level=service_level_to_proto(option.service_level),
        price=money_to_proto(option.price),
        min_days=option.min_days,
        max_days=option.max_days,
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp
