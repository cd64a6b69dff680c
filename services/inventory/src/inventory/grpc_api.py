"""The gRPC servicer: request messages to use-case calls, results back to messages; and
inventory's outcomes as the contract names them (ERRORS)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

import grpc
from google.rpc import error_details_pb2
from grpc import aio

from chassis import status
from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from inventory import service
from inventory.domain import (
    Adjustment,
    AdjustmentBelowReserved,
    InsufficientStock,
    ReservationAlreadyConfirmed,
    ReservationAlreadyReleased,
    ReservationExpired,
    ReservationNotFound,
    ReservationRequest,
    StockLevelNotFound,
)
from inventory.messages import lines_from_proto, reservation_to_proto, stock_level_to_proto
from inventory.repository import Repositories
from inventory.service import DEFAULT_RESERVATION_TTL, Clock, utc_now
from shop.inventory.v1 import inventory_service_pb2 as pb
from shop.inventory.v1.errors_pb2 import ErrorReason
from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceServicer

Context = aio.ServicerContext[Any, Any]


def _reason(value: int) -> Reason:
    return Reason.of(ErrorReason, value)


_FAILED = grpc.StatusCode.FAILED_PRECONDITION
ERRORS = ErrorMap(
    {
        StockLevelNotFound: (
            grpc.StatusCode.NOT_FOUND,
            _reason(ErrorReason.ERROR_REASON_STOCK_LEVEL_NOT_FOUND),
        ),
        InsufficientStock: (_FAILED, _reason(ErrorReason.ERROR_REASON_INSUFFICIENT_STOCK)),
        ReservationNotFound: (
            grpc.StatusCode.NOT_FOUND,
            _reason(ErrorReason.ERROR_REASON_RESERVATION_NOT_FOUND),
        ),
        ReservationExpired: (_FAILED, _reason(ErrorReason.ERROR_REASON_RESERVATION_EXPIRED)),
        ReservationAlreadyReleased: (
            _FAILED,
            _reason(ErrorReason.ERROR_REASON_RESERVATION_RELEASED),
        ),
        ReservationAlreadyConfirmed: (
            _FAILED,
            _reason(ErrorReason.ERROR_REASON_RESERVATION_ALREADY_CONFIRMED),
        ),
        AdjustmentBelowReserved: (
            _FAILED,
            _reason(ErrorReason.ERROR_REASON_ADJUSTMENT_BELOW_RESERVED),
        ),
    }
)


class InventoryApi(InventoryServiceServicer):
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork[Repositories]],
        *,
        reservation_ttl: timedelta = DEFAULT_RESERVATION_TTL,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = unit_of_work
        self._reservation_ttl = reservation_ttl
        self._clock = clock

    async def GetStock(self, request: pb.GetStockRequest, context: Context) -> pb.GetStockResponse:
        level = await service.get_stock(self._uow(), request.sku)
        return pb.GetStockResponse(stock_level=stock_level_to_proto(level))

    async def ReserveStock(
        self, request: pb.ReserveStockRequest, context: Context
    ) -> pb.ReserveStockResponse:
        ttl = request.ttl.ToTimedelta().total_seconds() if request.HasField("ttl") else None
        reservation_request = ReservationRequest(
            order_id=request.order_id, lines=lines_from_proto(request.lines), ttl_seconds=ttl
        )
        try:
            reservation = await service.reserve_stock(
                self._uow(),
                idempotency_key=request.idempotency_key,
                request=reservation_request,
                default_ttl=self._reservation_ttl,
                clock=self._clock,
            )
        except InsufficientStock as short:
            await _abort_with_shortages(context, short)
        return pb.ReserveStockResponse(reservation=reservation_to_proto(reservation))

    async def ConfirmReservation(
        self, request: pb.ConfirmReservationRequest, context: Context
    ) -> pb.ConfirmReservationResponse:
        reservation = await service.confirm_reservation(
            self._uow(),
            idempotency_key=request.idempotency_key,
            reservation_id=request.reservation_id,
            clock=self._clock,
        )
        return pb.ConfirmReservationResponse(reservation=reservation_to_proto(reservation))

    async def ReleaseReservation(
        self, request: pb.ReleaseReservationRequest, context: Context
    ) -> pb.ReleaseReservationResponse:
        reservation = await service.release_reservation(
            self._uow(),
            idempotency_key=request.idempotency_key,
            reservation_id=request.reservation_id,
            detail=request.reason,
            clock=self._clock,
        )
        return pb.ReleaseReservationResponse(reservation=reservation_to_proto(reservation))

    async def AdjustStock(
        self, request: pb.AdjustStockRequest, context: Context
    ) -> pb.AdjustStockResponse:
        level = await service.adjust_stock(
            self._uow(),
            idempotency_key=request.idempotency_key,
            adjustment=Adjustment(sku=request.sku, delta=request.delta, reason=request.reason),
            clock=self._clock,
        )
        return pb.AdjustStockResponse(stock_level=stock_level_to_proto(level))


async def _abort_with_shortages(context: Context, short: InsufficientStock) -> NoReturn:
    """INSUFFICIENT_STOCK as every mapped error answers, plus the PreconditionFailure the
    contract promises (one violation per short SKU). The chassis's ErrorMap sends only
    ErrorInfo and BadRequest, so this one answer is built here."""
    answer = ERRORS.answer(short)
    assert answer is not None  # mapped above
    shortages = error_details_pb2.PreconditionFailure(
        violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type="STOCK",
                subject=s.sku,
                description=f"requested {s.requested}, available {s.available}",
            )
            for s in short.shortages
        ]
    )
    await status.abort(context, answer.code, answer.message, [*answer.details(), shortages])
