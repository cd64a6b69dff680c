"""What orders needs of the services its saga calls (its pacts pacts/orders-payments.json,
pacts/orders-inventory.json and pacts/orders-shipping.json): each call as orders' real gRPC
client (orders.peers) makes it, in the JSON mapping, and what orders reads of the answer.
The client is pointed at a server that answers from the pact and refuses any request the
pact does not name. The pacts also hold the events orders reads of these services
(orders_pacts.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import orders_pacts
import pytest

from chassis.errors import PeerError
from chassis.testing import pact
from orders.domain import (
    Address,
    CartLine,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    RejectionReason,
    ShippingSpeed,
)
from orders.peers import (
    INSUFFICIENT_STOCK,
    GrpcInventory,
    GrpcPayments,
    GrpcShipping,
    Refused,
    ShipmentState,
)

pytestmark = pytest.mark.anyio

ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
PAYMENT_ID = "0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"
RESERVATION_ID = "5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8"
KEY = "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"
OTHER_KEY = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"  # a step's key is its own
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORDER = Order(
    order_id=ORDER_ID,
    customer_id="customer-1",
    status=OrderStatus.PENDING,
    lines=(OrderLine("KIT-KNIFE-1", "Chef's Knife", 2, Money("EUR", 8900)),),
    shipping_cost=Money("EUR", 500),
    address=Address("Alice", ("1 Main St",), "Berlin", "", "10115", "DE"),
    speed=ShippingSpeed.STANDARD,
    created_at=NOW,
    updated_at=NOW,
    version=1,
)
PAYMENTS_SERVICE = "/shop.payments.v1.PaymentsService/"
INVENTORY_SERVICE = "/shop.inventory.v1.InventoryService/"
AUTHORIZED = "payment 0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f is authorized for EUR 183.00"
SHIPPING_SERVICE = "/shop.shipping.v1.ShippingService/"
SHIPMENT_ID = "9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"
PENDING = "shipment 9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5 of the order is pending"
ADDRESS = {
    "recipient": "Alice",
    "lines": ["1 Main St"],
    "locality": "Berlin",
    "postalCode": "10115",
    "countryCode": "DE",
}
RESERVED = "reservation 5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8 holds 2 x KIT-KNIFE-1"


def authorization(key: str, token: str) -> dict[str, object]:
    return {
        "idempotencyKey": key,
        "orderId": ORDER_ID,
        "customerId": "customer-1",
        "amount": {"currencyCode": "EUR", "amountMinor": "18300"},
        "paymentToken": token,
    }


PAYMENTS = orders_pacts.PAYMENTS  # with the payments events orders reads
pact.call(
    PAYMENTS,
    "an authorization of the order's total",
    PAYMENTS_SERVICE + "AuthorizePayment",
    authorization(KEY, "tok_visa"),
    {"payment": {"paymentId": pact.uuid(PAYMENT_ID), "status": "PAYMENT_STATUS_AUTHORIZED"}},
    given="card tok_visa approves",
)
pact.call(
    PAYMENTS,
    "an authorization the card declines",
    PAYMENTS_SERVICE + "AuthorizePayment",
    authorization(OTHER_KEY, "tok_insufficient_funds"),
    {
        "payment": {
            "status": "PAYMENT_STATUS_DECLINED",
            "declineReason": "DECLINE_REASON_INSUFFICIENT_FUNDS",
        }
    },
    given="card tok_insufficient_funds declines for insufficient funds",
)
pact.call(
    PAYMENTS,
    "a capture of the authorized total",
    PAYMENTS_SERVICE + "CapturePayment",
    {
        "idempotencyKey": KEY,
        "paymentId": PAYMENT_ID,
        "amount": {"currencyCode": "EUR", "amountMinor": "18300"},
    },
    {},  # orders reads nothing of it: that it succeeded
    given=AUTHORIZED,
    payment_id=PAYMENT_ID,
    order_id=ORDER_ID,
    amount_minor=18300,
)
pact.call(
    PAYMENTS,
    "a void of the authorization",
    PAYMENTS_SERVICE + "VoidAuthorization",
    {"idempotencyKey": KEY, "paymentId": PAYMENT_ID, "reason": "out of stock"},
    {},
    given=AUTHORIZED,
    payment_id=PAYMENT_ID,
    order_id=ORDER_ID,
    amount_minor=18300,
)

INVENTORY = orders_pacts.INVENTORY  # with the inventory events orders reads
pact.call(
    INVENTORY,
    "a reservation of the order's lines",
    INVENTORY_SERVICE + "ReserveStock",
    {
        "idempotencyKey": KEY,
        "orderId": ORDER_ID,
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
        "ttl": "900s",
    },
    {"reservation": {"reservationId": pact.uuid(RESERVATION_ID)}},
    given="stock of SKU KIT-KNIFE-1 is 3",
    sku="KIT-KNIFE-1",
    on_hand=3,
)
pact.call(
    INVENTORY,
    "a reservation of more than is in stock",
    INVENTORY_SERVICE + "ReserveStock",
    {
        "idempotencyKey": OTHER_KEY,
        "orderId": ORDER_ID,
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
        "ttl": "900s",
    },
    pact.failure(grpc.StatusCode.FAILED_PRECONDITION, INSUFFICIENT_STOCK),
    given="stock of SKU KIT-KNIFE-1 is 1",
    sku="KIT-KNIFE-1",
    on_hand=1,
)
pact.call(
    INVENTORY,
    "a confirmation of the reservation",
    INVENTORY_SERVICE + "ConfirmReservation",
    {"idempotencyKey": KEY, "reservationId": RESERVATION_ID},
    {},
    given=RESERVED,
    reservation_id=RESERVATION_ID,
    order_id=ORDER_ID,
    sku="KIT-KNIFE-1",
    quantity=2,
)
pact.call(
    INVENTORY,
    "a release of the reservation",
    INVENTORY_SERVICE + "ReleaseReservation",
    {"idempotencyKey": KEY, "reservationId": RESERVATION_ID, "reason": "card declined"},
    {},
    given=RESERVED,
    reservation_id=RESERVATION_ID,
    order_id=ORDER_ID,
    sku="KIT-KNIFE-1",
    quantity=2,
)


SHIPPING = orders_pacts.SHIPPING  # with the shipping events orders reads
pact.call(
    SHIPPING,
    "a quote for the cart",
    SHIPPING_SERVICE + "QuoteShipping",
    {
        "destination": ADDRESS,
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
        "currencyCode": "EUR",
    },
    {
        # among the options, the standard one (what orders offers), in the cart's currency
        "options": pact.match.array_containing(
            [
                {
                    "serviceLevel": "SERVICE_LEVEL_STANDARD",
                    "price": {"currencyCode": "EUR", "amountMinor": pact.int64(500)},
                }
            ]
        )
    },
    given="shipping serves DE",
)
pact.call(
    SHIPPING,
    "a shipment of the order",
    SHIPPING_SERVICE + "CreateShipment",
    {
        "idempotencyKey": KEY,
        "orderId": ORDER_ID,
        "customerId": "customer-1",
        "address": ADDRESS,
        "lines": [{"sku": "KIT-KNIFE-1", "quantity": 2}],
        "serviceLevel": "SERVICE_LEVEL_STANDARD",
    },
    {"shipment": {"shipmentId": pact.uuid(SHIPMENT_ID)}},
    given="shipping serves DE",
)
pact.call(
    SHIPPING,
    "the state of the order's shipment",
    SHIPPING_SERVICE + "GetShipment",
    {"shipmentId": SHIPMENT_ID},
    {"shipment": {"status": "SHIPMENT_STATUS_PENDING"}},
    given=PENDING,
    shipment_id=SHIPMENT_ID,
    order_id=ORDER_ID,
)
pact.call(
    SHIPPING,
    "a cancellation of the order's shipment",
    SHIPPING_SERVICE + "CancelShipment",
    {"idempotencyKey": KEY, "shipmentId": SHIPMENT_ID, "reason": "card declined"},
    {},
    given=PENDING,
    shipment_id=SHIPMENT_ID,
    order_id=ORDER_ID,
)


async def test_orders_authorizes_the_total_and_keeps_the_payment_id() -> None:
    async with pact.pact_peer(PAYMENTS) as channel:
        payment_id = await GrpcPayments(lambda: channel).authorize(KEY, ORDER, "tok_visa")

    assert payment_id == PAYMENT_ID


async def test_orders_takes_a_declined_card_as_a_refusal_with_its_reason() -> None:
    async with pact.pact_peer(PAYMENTS) as channel:
        with pytest.raises(Refused) as refused:
            await GrpcPayments(lambda: channel).authorize(
                OTHER_KEY, ORDER, "tok_insufficient_funds"
            )

    assert refused.value.reason is RejectionReason.PAYMENT_DECLINED
    assert refused.value.detail == "card declined (DECLINE_REASON_INSUFFICIENT_FUNDS)"


async def test_orders_captures_and_voids_the_payment_it_authorized() -> None:
    async with pact.pact_peer(PAYMENTS) as channel:
        payments = GrpcPayments(lambda: channel)
        await payments.capture(KEY, PAYMENT_ID, Money("EUR", 18300))
        await payments.void(KEY, PAYMENT_ID, "out of stock")


async def test_orders_reserves_every_line_and_keeps_the_reservation_id() -> None:
    async with pact.pact_peer(INVENTORY) as channel:
        reservation_id = await GrpcInventory(lambda: channel).reserve(KEY, ORDER)

    assert reservation_id == RESERVATION_ID


async def test_orders_tells_too_little_stock_by_its_reason() -> None:
    async with pact.pact_peer(INVENTORY) as channel:
        with pytest.raises(PeerError) as refused:
            await GrpcInventory(lambda: channel).reserve(OTHER_KEY, ORDER)

    assert refused.value.reason == INSUFFICIENT_STOCK


async def test_orders_confirms_and_releases_the_reservation_it_made() -> None:
    async with pact.pact_peer(INVENTORY) as channel:
        inventory = GrpcInventory(lambda: channel)
        await inventory.confirm(KEY, RESERVATION_ID)
        await inventory.release(KEY, RESERVATION_ID, "card declined")


async def test_orders_prices_shipping_from_the_quote() -> None:
    async with pact.pact_peer(SHIPPING) as channel:
        quote = await GrpcShipping(lambda: channel).quote(
            ORDER.address, [CartLine("KIT-KNIFE-1", 2)], "EUR"
        )

    assert quote == {ShippingSpeed.STANDARD: Money("EUR", 500)}


async def test_orders_ships_the_order_and_keeps_the_shipment_id() -> None:
    async with pact.pact_peer(SHIPPING) as channel:
        shipment_id = await GrpcShipping(lambda: channel).create_shipment(KEY, ORDER)

    assert shipment_id == SHIPMENT_ID


async def test_orders_sees_whether_the_shipment_left_and_cancels_it() -> None:
    async with pact.pact_peer(SHIPPING) as channel:
        shipping = GrpcShipping(lambda: channel)
        state = await shipping.shipment(SHIPMENT_ID)
        await shipping.cancel_shipment(KEY, SHIPMENT_ID, "card declined")

    assert state == ShipmentState(dispatched=False)


@pytest.mark.parametrize("peer", [PAYMENTS, INVENTORY, SHIPPING], ids=lambda p: p.provider)
async def test_the_pacts_in_the_repository_are_current(peer: pact.Pact) -> None:
    pact.assert_committed(peer)
