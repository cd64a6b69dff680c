"""Conversions between the contract's messages and the domain, shared by the gRPC API and
the events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from inventory.domain import Reservation, ReservationLine, ReservationStatus, StockLevel
from shop.inventory.v1 import reservation_pb2, stock_level_pb2

STATUS_TO_PROTO = {
    ReservationStatus.PENDING: reservation_pb2.RESERVATION_STATUS_PENDING,
    ReservationStatus.CONFIRMED: reservation_pb2.RESERVATION_STATUS_CONFIRMED,
    ReservationStatus.RELEASED: reservation_pb2.RESERVATION_STATUS_RELEASED,
    ReservationStatus.EXPIRED: reservation_pb2.RESERVATION_STATUS_EXPIRED,
}


def timestamp(moment: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def stock_level_to_proto(level: StockLevel) -> stock_level_pb2.StockLevel:
    message = stock_level_pb2.StockLevel(
        sku=level.sku,
        on_hand=level.on_hand,
        reserved=level.reserved,
        available=level.available,
        version=level.version,
        update_time=timestamp(level.updated_at),
    )
    if level.low_stock_threshold is not None:
        message.low_stock_threshold = level.low_stock_threshold
    return message


def lines_to_proto(lines: Iterable[ReservationLine]) -> list[reservation_pb2.ReservationLine]:
    return [reservation_pb2.ReservationLine(sku=line.sku, quantity=line.quantity) for line in lines]


def lines_from_proto(
    messages: Iterable[reservation_pb2.ReservationLine],
) -> tuple[ReservationLine, ...]:
    return tuple(ReservationLine(sku=m.sku, quantity=m.quantity) for m in messages)


def reservation_to_proto(reservation: Reservation) -> reservation_pb2.Reservation:
    return reservation_pb2.Reservation(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        lines=lines_to_proto(reservation.lines),
        status=STATUS_TO_PROTO[reservation.status],
        expire_time=timestamp(reservation.expire_time),
        create_time=timestamp(reservation.created_at),
        update_time=timestamp(reservation.updated_at),
        version=reservation.version,
    )
