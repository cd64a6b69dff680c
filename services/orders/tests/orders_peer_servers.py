"""Payments, inventory and shipping as real gRPC servicers in the test process, all on one
server (a call's method names its service): programmable answers, ErrorInfo reasons as
the real services give them, and a record of every effect by idempotency key, so a test
can see that nothing happened twice and nothing stayed open. Orders reaches them through
chassis.clients with SHOP_MESH_OUTBOUND pointing at the server, as it would its sidecar."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from chassis import status
from shop.common.v1 import money_pb2
from shop.inventory.v1 import inventory_service_pb2 as inv
from shop.inventory.v1 import reservation_pb2
from shop.inventory.v1.inventory_service_pb2_grpc import (
    InventoryServiceServicer,
    add_InventoryServiceServicer_to_server,
)
from shop.payments.v1 import payment_pb2
from shop.payments.v1 import payments_service_pb2 as pay
from shop.payments.v1.payments_service_pb2_grpc import (
    PaymentsServiceServicer,
    add_PaymentsServiceServicer_to_server,
)
from shop.shipping.v1 import shipment_pb2
from shop.shipping.v1 import shipping_service_pb2 as ship
from shop.shipping.v1.shipping_service_pb2_grpc import (
    ShippingServiceServicer,
    add_ShippingServiceServicer_to_server,
)

Context = grpc.aio.ServicerContext[Any, Any]


async def _refuse(context: Context, code: grpc.StatusCode, domain: str, reason: str) -> None:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=f"{domain}.shop.local")
    await status.abort(context, code, reason, [info])


@dataclass
class Payments(PaymentsServiceServicer):
    by_key: dict[str, str] = field(default_factory=dict)  # authorize key -> payment id
    status: dict[str, str] = field(default_factory=dict)  # payment id -> AUTHORIZED|...
    calls: list[str] = field(default_factory=list)

    async def AuthorizePayment(
        self, request: pay.AuthorizePaymentRequest, context: Context
    ) -> pay.AuthorizePaymentResponse:
        self.calls.append("AuthorizePayment")
        if request.payment_token == "tok_timeout":
            await _refuse(context, grpc.StatusCode.UNAVAILABLE, "payments", "PROCESSOR_UNAVAILABLE")
        payment_id = self.by_key.setdefault(request.idempotency_key, str(uuid.uuid4()))
        if request.payment_token == "tok_declined":
            self.status[payment_id] = "DECLINED"
            payment = payment_pb2.Payment(
                payment_id=payment_id,
                status=payment_pb2.PAYMENT_STATUS_DECLINED,
                decline_reason=payment_pb2.DECLINE_REASON_PROCESSOR_DECLINED,
            )
            return pay.AuthorizePaymentResponse(payment=payment)
        self.status.setdefault(payment_id, "AUTHORIZED")
        payment = payment_pb2.Payment(
            payment_id=payment_id, status=payment_pb2.PAYMENT_STATUS_AUTHORIZED
        )
        return pay.AuthorizePaymentResponse(payment=payment)

    async def CapturePayment(
        self, request: pay.CapturePaymentRequest, context: Context
    ) -> pay.CapturePaymentResponse:
        self.calls.append("CapturePayment")
        self.status[request.payment_id] = "CAPTURED"
        return pay.CapturePaymentResponse(
            payment=payment_pb2.Payment(payment_id=request.payment_id)
        )

    async def VoidAuthorization(
        self, request: pay.VoidAuthorizationRequest, context: Context
    ) -> pay.VoidAuthorizationResponse:
        self.calls.append("VoidAuthorization")
        self.status[request.payment_id] = "VOIDED"
        return pay.VoidAuthorizationResponse(
            payment=payment_pb2.Payment(payment_id=request.payment_id)
        )

    def open(self) -> list[str]:
        return [p for p, s in self.status.items() if s == "AUTHORIZED"]


@dataclass
class Inventory(InventoryServiceServicer):
    stock: dict[str, int] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)  # reservation id -> PENDING|...
    calls: list[str] = field(default_factory=list)

    async def ReserveStock(
        self, request: inv.ReserveStockRequest, context: Context
    ) -> inv.ReserveStockResponse:
        self.calls.append("ReserveStock")
        if request.idempotency_key not in self.by_key:
            if any(self.stock.get(line.sku, 0) < line.quantity for line in request.lines):
                await _refuse(
                    context, grpc.StatusCode.FAILED_PRECONDITION, "inventory", "INSUFFICIENT_STOCK"
                )
            for line in request.lines:
                self.stock[line.sku] -= line.quantity
            reservation_id = str(uuid.uuid4())
            self.by_key[request.idempotency_key] = reservation_id
            self.status[reservation_id] = "PENDING"
        reservation = reservation_pb2.Reservation(
            reservation_id=self.by_key[request.idempotency_key]
        )
        return inv.ReserveStockResponse(reservation=reservation)

    async def ConfirmReservation(
        self, request: inv.ConfirmReservationRequest, context: Context
    ) -> inv.ConfirmReservationResponse:
        self.calls.append("ConfirmReservation")
        self.status[request.reservation_id] = "CONFIRMED"
        return inv.ConfirmReservationResponse()

    async def ReleaseReservation(
        self, request: inv.ReleaseReservationRequest, context: Context
    ) -> inv.ReleaseReservationResponse:
        self.calls.append("ReleaseReservation")
        self.status[request.reservation_id] = "RELEASED"
        return inv.ReleaseReservationResponse()

    def open(self) -> list[str]:
        return [r for r, s in self.status.items() if s == "PENDING"]

    # Orders may call only the reservation methods (mesh/policy.yaml).
    async def GetStock(
        self, request: inv.GetStockRequest, context: Context
    ) -> inv.GetStockResponse:
        await _refuse(context, grpc.StatusCode.PERMISSION_DENIED, "inventory", "NOT_FOR_ORDERS")
        raise AssertionError("unreachable")

    async def AdjustStock(
        self, request: inv.AdjustStockRequest, context: Context
    ) -> inv.AdjustStockResponse:
        await _refuse(context, grpc.StatusCode.PERMISSION_DENIED, "inventory", "NOT_FOR_ORDERS")
        raise AssertionError("unreachable")


@dataclass
class Shipping(ShippingServiceServicer):
    refuse_create: bool = False
    by_key: dict[str, str] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def QuoteShipping(
        self, request: ship.QuoteShippingRequest, context: Context
    ) -> ship.QuoteShippingResponse:
        if request.destination.country_code == "AQ":
            await _refuse(
                context, grpc.StatusCode.FAILED_PRECONDITION, "shipping", "DESTINATION_NOT_SERVED"
            )
        price = money_pb2.Money(currency_code=request.currency_code, amount_minor=500)
        option = ship.ShippingOption(service_level=shipment_pb2.SERVICE_LEVEL_STANDARD, price=price)
        return ship.QuoteShippingResponse(options=[option])

    async def CreateShipment(
        self, request: ship.CreateShipmentRequest, context: Context
    ) -> ship.CreateShipmentResponse:
        self.calls.append("CreateShipment")
        if self.refuse_create:
            await _refuse(
                context, grpc.StatusCode.FAILED_PRECONDITION, "shipping", "DESTINATION_NOT_SERVED"
            )
        shipment_id = self.by_key.setdefault(request.idempotency_key, str(uuid.uuid4()))
        self.status.setdefault(shipment_id, "PENDING")
        return ship.CreateShipmentResponse(shipment=shipment_pb2.Shipment(shipment_id=shipment_id))

    async def CancelShipment(
        self, request: ship.CancelShipmentRequest, context: Context
    ) -> ship.CancelShipmentResponse:
        self.calls.append("CancelShipment")
        self.status[request.shipment_id] = "CANCELLED"
        return ship.CancelShipmentResponse()

    async def GetShipment(
        self, request: ship.GetShipmentRequest, context: Context
    ) -> ship.GetShipmentResponse:
        shipment = shipment_pb2.Shipment(
            shipment_id=request.shipment_id, status=shipment_pb2.SHIPMENT_STATUS_PENDING
        )
        return ship.GetShipmentResponse(shipment=shipment)


@dataclass
class PeerServers:
    payments: Payments = field(default_factory=Payments)
    inventory: Inventory = field(default_factory=lambda: Inventory(stock={"SKU-1": 10}))
    shipping: Shipping = field(default_factory=Shipping)


@asynccontextmanager
async def peer_server(peers: PeerServers) -> AsyncIterator[str]:
    """Serves the three on a free loopback port; its address ("127.0.0.1:<port>")."""
    server = grpc.aio.server()
    add_PaymentsServiceServicer_to_server(peers.payments, server)
    add_InventoryServiceServicer_to_server(peers.inventory, server)
    add_ShippingServiceServicer_to_server(peers.shipping, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)
