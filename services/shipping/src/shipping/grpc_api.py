"""The gRPC servicer: request messages to use-case calls, results back to messages; and
shipping's outcomes as the contract names them (ERRORS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from shipping import service
from shipping.domain import (
    AlreadyDispatched,
    DestinationNotServed,
    ShipmentAlreadyExists,
    ShipmentNotFound,
    UnknownSku,
)
from shipping.messages import (
    address_from_proto,
    lines_from_proto,
    option_to_proto,
    shipment_request_from_proto,
    shipment_to_proto,
)
from shipping.rates import Carriers
from shipping.repository import Repositories
from shipping.service import Clock
from shipping.weights import ProductWeights
from shop.shipping.v1 import shipping_service_pb2 as pb
from shop.shipping.v1.errors_pb2 import ErrorReason
from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceServicer

Context = aio.ServicerContext[Any, Any]

ERRORS = ErrorMap(
    {
        ShipmentNotFound: (
            grpc.StatusCode.NOT_FOUND,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_SHIPMENT_NOT_FOUND),
        ),
        DestinationNotServed: (
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_DESTINATION_NOT_SERVED),
        ),
        UnknownSku: (
            grpc.StatusCode.NOT_FOUND,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_UNKNOWN_SKU),
        ),
        AlreadyDispatched: (
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_ALREADY_DISPATCHED),
        ),
        ShipmentAlreadyExists: (
            grpc.StatusCode.ALREADY_EXISTS,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_SHIPMENT_ALREADY_EXISTS),
        ),
    }
)


class ShippingApi(ShippingServiceServicer):
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork[Repositories]],
        *,
        carriers: Carriers,
        weights: ProductWeights,
        clock: Clock = service.utc_now,
    ) -> None:
        self._uow = unit_of_work
        self._carriers = carriers
        self._weights = weights
        self._clock = clock

    async def QuoteShipping(
        self, request: pb.QuoteShippingRequest, context: Context
    ) -> pb.QuoteShippingResponse:
        options = await service.quote_shipping(
            self._carriers.rates,
            self._weights,
            destination=address_from_proto(request.destination),
            lines=lines_from_proto(request.lines),
            currency=request.currency_code,
        )
        return pb.QuoteShippingResponse(options=[option_to_proto(o) for o in options])

    async def CreateShipment(
        self, request: pb.CreateShipmentRequest, context: Context
    ) -> pb.CreateShipmentResponse:
        shipment = await service.create_shipment(
            self._uow(),
            self._carriers,
            idempotency_key=request.idempotency_key,
            request=shipment_request_from_proto(request),
            clock=self._clock,
        )
        return pb.CreateShipmentResponse(shipment=shipment_to_proto(shipment))

    async def CancelShipment(
        self, request: pb.CancelShipmentRequest, context: Context
    ) -> pb.CancelShipmentResponse:
        shipment = await service.cancel_shipment(
            self._uow(),
            idempotency_key=request.idempotency_key,
            shipment_id=request.shipment_id,
            reason=request.reason,
            clock=self._clock,
        )
        return pb.CancelShipmentResponse(shipment=shipment_to_proto(shipment))

    async def GetShipment(
        self, request: pb.GetShipmentRequest, context: Context
    ) -> pb.GetShipmentResponse:
        shipment = await service.get_shipment(self._uow(), request.shipment_id)
        return pb.GetShipmentResponse(shipment=shipment_to_proto(shipment))
