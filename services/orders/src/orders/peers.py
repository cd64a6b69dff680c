"""The services orders calls, as ports (what the saga and PlaceOrder need) and their gRPC
adapters through the instance's sidecar (chassis.clients; mesh/policy.yaml lets orders
call them). Orders imports only their generated contracts, never their code.

A failed call raises chassis.errors.PeerError (match on `.reason`, `.transient`); an
answer that is a business refusal (a declined card) raises Refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc.aio

from chassis.errors import Reason, peer_error
from orders.domain import Address, CartLine, Money, Order, RejectionReason, ShippingSpeed
from shop.common.v1 import address_pb2, money_pb2
from shop.inventory.v1 import inventory_service_pb2 as inventory_pb
from shop.inventory.v1 import reservation_pb2
from shop.inventory.v1.errors_pb2 import ErrorReason as InventoryReason
from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceStub
from shop.payments.v1 import payment_pb2
from shop.payments.v1 import payments_service_pb2 as payments_pb
from shop.payments.v1.errors_pb2 import ErrorReason as PaymentsReason
from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceStub
from shop.shipping.v1 import shipment_pb2
from shop.shipping.v1 import shipping_service_pb2 as shipping_pb
from shop.shipping.v1.errors_pb2 import ErrorReason as ShippingReason
from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

if TYPE_CHECKING:
    from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceAsyncStub
    from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceAsyncStub
    from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceAsyncStub

P, INV, S = PaymentsReason, InventoryReason, ShippingReason
PAYMENT_NOT_AUTHORIZED = Reason.of(P, P.ERROR_REASON_PAYMENT_NOT_AUTHORIZED)
PAYMENT_ALREADY_CAPTURED = Reason.of(P, P.ERROR_REASON_PAYMENT_ALREADY_CAPTURED)
PROCESSOR_UNAVAILABLE = Reason.of(P, P.ERROR_REASON_PROCESSOR_UNAVAILABLE)
INSUFFICIENT_STOCK = Reason.of(INV, INV.ERROR_REASON_INSUFFICIENT_STOCK)
STOCK_LEVEL_NOT_FOUND = Reason.of(INV, INV.ERROR_REASON_STOCK_LEVEL_NOT_FOUND)
RESERVATION_NOT_FOUND = Reason.of(INV, INV.ERROR_REASON_RESERVATION_NOT_FOUND)
RESERVATION_EXPIRED = Reason.of(INV, INV.ERROR_REASON_RESERVATION_EXPIRED)
RESERVATION_RELEASED = Reason.of(INV, INV.ERROR_REASON_RESERVATION_RELEASED)
DESTINATION_NOT_SERVED = Reason.of(S, S.ERROR_REASON_DESTINATION_NOT_SERVED)
SHIPPING_UNKNOWN_SKU = Reason.of(S, S.ERROR_REASON_UNKNOWN_SKU)
SHIPMENT_NOT_FOUND = Reason.of(S, S.ERROR_REASON_SHIPMENT_NOT_FOUND)
SHIPMENT_ALREADY_EXISTS = Reason.of(S, S.ERROR_REASON_SHIPMENT_ALREADY_EXISTS)
ALREADY_DISPATCHED = Reason.of(S, S.ERROR_REASON_ALREADY_DISPATCHED)

RESERVATION_TTL_S = 900  # a reservation the saga never confirms nor releases expires


class Refused(Exception):
    """A peer's answer that is a business refusal (a declined card): no retry."""

    def __init__(self, reason: RejectionReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Payments(Protocol):
    async def authorize(self, key: str, order: Order, payment_token: str) -> str:
        """The payment id of an authorization of the order's total; Refused if declined."""
        ...

    async def capture(self, key: str, payment_id: str, amount: Money) -> None: ...
    async def void(self, key: str, payment_id: str, reason: str) -> None: ...


class Inventory(Protocol):
    async def reserve(self, key: str, order: Order) -> str:
        """The reservation id holding every line's quantity."""
        ...

    async def confirm(self, key: str, reservation_id: str) -> None: ...
    async def release(self, key: str, reservation_id: str, reason: str) -> None: ...


@dataclass(frozen=True)
class ShipmentState:
    dispatched: bool
    carrier: str = ""
    tracking_number: str = ""


class Shipping(Protocol):
    async def quote(
        self, address: Address, lines: Sequence[CartLine], currency: str
    ) -> dict[ShippingSpeed, Money]:
        """The price of each speed that serves the address (none: not served)."""
        ...

    async def create_shipment(self, key: str, order: Order) -> str: ...
    async def cancel_shipment(self, key: str, shipment_id: str, reason: str) -> None: ...
    async def shipment(self, shipment_id: str) -> ShipmentState: ...


@dataclass(frozen=True)
class Peers:
    payments: Payments
    inventory: Inventory
    shipping: Shipping


# --- gRPC ---------------------------------------------------------------------------------


def money_pb(money: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=money.currency, amount_minor=money.minor)


def address_pb(address: Address) -> address_pb2.Address:
    return address_pb2.Address(
        recipient=address.recipient,
        lines=list(address.lines),
        locality=address.locality,
        region=address.region,
        postal_code=address.postal_code,
        country_code=address.country_code,
    )


class _Lazy:
    """A stub on a channel opened on first use (inside the loop that serves calls)."""

    def __init__(self, open_channel: Callable[[], grpc.aio.Channel], stub: Callable[..., Any]):
        self._open = open_channel
        self._make = stub
        self._stub: Any = None

    def __call__(self) -> Any:
        if self._stub is None:
            self._stub = self._make(self._open())
        return self._stub


async def _call(method: Any, request: Any) -> Any:
    try:
        return await method(request)
    except grpc.aio.AioRpcError as error:
        raise peer_error(error) from error


class GrpcPayments:
    def __init__(self, open_channel: Callable[[], grpc.aio.Channel]) -> None:
        self._stub = _Lazy(open_channel, PaymentsServiceStub)

    def _s(self) -> PaymentsServiceAsyncStub:
        stub: PaymentsServiceAsyncStub = self._stub()
        return stub

    async def authorize(self, key: str, order: Order, payment_token: str) -> str:
        request = payments_pb.AuthorizePaymentRequest(
            idempotency_key=key,
            order_id=order.order_id,
            customer_id=order.customer_id,
            amount=money_pb(order.total),
            payment_token=payment_token,
        )
        reply = await _call(self._s().AuthorizePayment, request)
        payment = reply.payment
        if payment.status == payment_pb2.PAYMENT_STATUS_DECLINED:
            why = payment_pb2.DeclineReason.Name(payment.decline_reason)
            raise Refused(RejectionReason.PAYMENT_DECLINED, f"card declined ({why})")
        return str(payment.payment_id)

    async def capture(self, key: str, payment_id: str, amount: Money) -> None:
        request = payments_pb.CapturePaymentRequest(
            idempotency_key=key, payment_id=payment_id, amount=money_pb(amount)
        )
        await _call(self._s().CapturePayment, request)

    async def void(self, key: str, payment_id: str, reason: str) -> None:
        request = payments_pb.VoidAuthorizationRequest(
            idempotency_key=key, payment_id=payment_id, reason=reason
        )
        await _call(self._s().VoidAuthorization, request)


class GrpcInventory:
    def __init__(self, open_channel: Callable[[], grpc.aio.Channel]) -> None:
        self._stub = _Lazy(open_channel, InventoryServiceStub)

    def _s(self) -> InventoryServiceAsyncStub:
        stub: InventoryServiceAsyncStub = self._stub()
        return stub

    async def reserve(self, key: str, order: Order) -> str:
        request = inventory_pb.ReserveStockRequest(
            idempotency_key=key,
            order_id=order.order_id,
            lines=[
                reservation_pb2.ReservationLine(sku=line.sku, quantity=line.quantity)
                for line in order.lines
            ],
        )
        request.ttl.FromSeconds(RESERVATION_TTL_S)
        reply = await _call(self._s().ReserveStock, request)
        return str(reply.reservation.reservation_id)

    async def confirm(self, key: str, reservation_id: str) -> None:
        request = inventory_pb.ConfirmReservationRequest(
            idempotency_key=key, reservation_id=reservation_id
        )
        await _call(self._s().ConfirmReservation, request)

    async def release(self, key: str, reservation_id: str, reason: str) -> None:
        request = inventory_pb.ReleaseReservationRequest(
            idempotency_key=key, reservation_id=reservation_id, reason=reason
        )
        await _call(self._s().ReleaseReservation, request)


class GrpcShipping:
    def __init__(self, open_channel: Callable[[], grpc.aio.Channel]) -> None:
        self._stub = _Lazy(open_channel, ShippingServiceStub)

    def _s(self) -> ShippingServiceAsyncStub:
        stub: ShippingServiceAsyncStub = self._stub()
        return stub

    async def quote(
        self, address: Address, lines: Sequence[CartLine], currency: str
    ) -> dict[ShippingSpeed, Money]:
        request = shipping_pb.QuoteShippingRequest(
            destination=address_pb(address),
            lines=[shipping_pb.QuoteLine(sku=line.sku, quantity=line.quantity) for line in lines],
            currency_code=currency,
        )
        reply = await _call(self._s().QuoteShipping, request)
        return {
            ShippingSpeed(option.service_level): Money(
                option.price.currency_code, option.price.amount_minor
            )
            for option in reply.options
            if option.service_level in ShippingSpeed._value2member_map_
        }

    async def create_shipment(self, key: str, order: Order) -> str:
        request = shipping_pb.CreateShipmentRequest(
            idempotency_key=key,
            order_id=order.order_id,
            customer_id=order.customer_id,
            address=address_pb(order.address),
            lines=[
                shipment_pb2.ShipmentLine(sku=line.sku, quantity=line.quantity)
                for line in order.lines
            ],
            service_level=shipment_pb2.ServiceLevel.ValueType(int(order.speed)),
        )
        try:
            reply = await _call(self._s().CreateShipment, request)
        except Exception as error:
            # The order already has a shipment (made under this key before): it is ours.
            from chassis.errors import PeerError  # noqa: PLC0415

            if isinstance(error, PeerError) and error.reason == SHIPMENT_ALREADY_EXISTS:
                existing = error.metadata.get("shipment_id", "")
                if existing:
                    return existing
            raise
        return str(reply.shipment.shipment_id)

    async def cancel_shipment(self, key: str, shipment_id: str, reason: str) -> None:
        request = shipping_pb.CancelShipmentRequest(
            idempotency_key=key, shipment_id=shipment_id, reason=reason
        )
        await _call(self._s().CancelShipment, request)

    async def shipment(self, shipment_id: str) -> ShipmentState:
        request = shipping_pb.GetShipmentRequest(shipment_id=shipment_id)
        reply = await _call(self._s().GetShipment, request)
        shipment = reply.shipment
        dispatched = shipment.status in (
            shipment_pb2.SHIPMENT_STATUS_DISPATCHED,
            shipment_pb2.SHIPMENT_STATUS_DELIVERED,
        )
        return ShipmentState(dispatched, shipment.carrier, shipment.tracking_number)
