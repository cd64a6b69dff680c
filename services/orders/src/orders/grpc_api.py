"""The gRPC servicer: request messages to use-case calls, results back to messages; and
orders' outcomes as the contract names them (ERRORS).

The customer is the verified token subject the gateway passes on as `x-shop-subject`
(and `x-shop-role`: an admin sees every order), never a request field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from grpc import aio

from chassis.errors import ErrorMap, Reason
from orders import domain, service
from orders.domain import OrderStatus
from orders.messages import entry_to_proto, order_to_proto, place_order_from_proto
from orders.peers import Shipping
from orders.service import Caller, CancelRequest, UoW
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.errors_pb2 import ErrorReason
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceServicer

Context = aio.ServicerContext[Any, Any]

SUBJECT_HEADER = "x-shop-subject"  # set by the gateway from the verified JWT's `sub`
ROLE_HEADER = "x-shop-role"  # "customer" | "admin"


def _reason(value: int) -> Reason:
    return Reason.of(ErrorReason, value)


FAILED = grpc.StatusCode.FAILED_PRECONDITION
ERRORS = ErrorMap(
    {
        domain.OrderNotFound: (
            grpc.StatusCode.NOT_FOUND,
            _reason(ErrorReason.ERROR_REASON_ORDER_NOT_FOUND),
        ),
        domain.PriceChanged: (FAILED, _reason(ErrorReason.ERROR_REASON_PRICE_CHANGED)),
        domain.NotCancellable: (FAILED, _reason(ErrorReason.ERROR_REASON_NOT_CANCELLABLE)),
        domain.UnknownSku: (
            grpc.StatusCode.NOT_FOUND,
            _reason(ErrorReason.ERROR_REASON_UNKNOWN_SKU),
        ),
        domain.CurrencyMismatch: (FAILED, _reason(ErrorReason.ERROR_REASON_CURRENCY_MISMATCH)),
        domain.DestinationNotServed: (
            FAILED,
            _reason(ErrorReason.ERROR_REASON_DESTINATION_NOT_SERVED),
        ),
        domain.InvalidConsistencyToken: (
            grpc.StatusCode.INVALID_ARGUMENT,
            _reason(ErrorReason.ERROR_REASON_INVALID_CONSISTENCY_TOKEN),
        ),
        # Not UNAVAILABLE: the mesh retries that at once, and the wait would repeat.
        service.ViewNotCaughtUp: (
            FAILED,
            _reason(ErrorReason.ERROR_REASON_VIEW_NOT_CAUGHT_UP),
            lambda error: [_retry_info(error.retry_after_s)],
        ),
    }
)

VIEW_WAIT_MARGIN_S = 0.1  # of the call's deadline, left for answering


def _retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    delay = Duration()
    delay.FromTimedelta(timedelta(seconds=seconds))
    return error_details_pb2.RetryInfo(retry_delay=delay)


class OrdersApi(OrdersServiceServicer):
    def __init__(
        self,
        unit_of_work: UoW,
        *,
        shipping: Shipping,
        wake: Callable[[], None] = lambda: None,
        admit: Callable[[], None] = lambda: None,
        clock: service.Clock = service.utc_now,
    ) -> None:
        self._uow = unit_of_work
        self._shipping = shipping
        self._wake = wake  # the saga runner: an order placed, a cancel queued
        self._admit = admit  # raises Overloaded while the sagas are too far behind
        self._clock = clock

    async def PlaceOrder(
        self, request: pb.PlaceOrderRequest, context: Context
    ) -> pb.PlaceOrderResponse:
        caller = await _caller(context)
        order = await service.place_order(
            self._uow,
            idempotency_key=request.idempotency_key,
            command=place_order_from_proto(request, caller.subject),
            shipping=self._shipping,
            clock=self._clock,
            admit=self._admit,
        )
        self._wake()
        return pb.PlaceOrderResponse(
            order=order_to_proto(order, None),
            consistency_token=service.consistency_token(order),
        )

    async def GetOrder(self, request: pb.GetOrderRequest, context: Context) -> pb.GetOrderResponse:
        viewed = await service.get_order(
            self._uow, await _caller(context), request.order_id, request.consistency_token
        )
        return pb.GetOrderResponse(order=order_to_proto(viewed.order, viewed.saga))

    async def ListOrders(
        self, request: pb.ListOrdersRequest, context: Context
    ) -> pb.ListOrdersResponse:
        remaining = context.time_remaining()
        wait_s = service.VIEW_WAIT_CAP_S
        if remaining is not None:
            wait_s = min(wait_s, remaining - VIEW_WAIT_MARGIN_S)
        page = await service.list_orders(
            self._uow,
            await _caller(context),
            status=OrderStatus(request.status) if request.status else None,
            page_size=request.page_size,
            page_token=request.page_token,
            consistency_token=request.consistency_token,
            wait_s=wait_s,
        )
        return pb.ListOrdersResponse(
            orders=[entry_to_proto(entry) for entry in page.orders],
            next_page_token=page.next_page_token,
        )

    async def CancelOrder(
        self, request: pb.CancelOrderRequest, context: Context
    ) -> pb.CancelOrderResponse:
        order = await service.cancel_order(
            self._uow,
            idempotency_key=request.idempotency_key,
            request=CancelRequest(request.order_id, request.reason, await _caller(context)),
            shipping=self._shipping,
            clock=self._clock,
        )
        if order.status is OrderStatus.PENDING:
            self._wake()  # a queued cancel may be honoured at once
        viewed = await service.get_order(self._uow, Caller(order.customer_id), order.order_id)
        return pb.CancelOrderResponse(
            order=order_to_proto(order, viewed.saga),
            consistency_token=service.consistency_token(order),
        )


async def _caller(context: Context) -> Caller:
    """The calling customer; a call without one did not come through the gateway's token
    check, and is refused."""
    metadata = {key: value for key, value in context.invocation_metadata() or ()}
    subject = metadata.get(SUBJECT_HEADER)
    if not subject:
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED, f"no customer: {SUBJECT_HEADER} missing"
        )
        raise AssertionError("unreachable: abort() raises")
    return Caller(str(subject), admin=metadata.get(ROLE_HEADER) == "admin")
