"""What audit needs of the events it records (its pacts pacts/audit-<context>.json): an
envelope it can file (id, type, subject, correlation id, time) around data that decodes as
the type it names. Audit reads nothing else of the data; the fields below are the ones the
chassis's decoder validates. Each message goes through the decoder as audit's subscription
for that context receives it, then through audit's reading of the envelope."""

from __future__ import annotations

import pytest

from audit import messages
from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from shop.catalog.v1.events_pb2 import ProductUpserted
from shop.inventory.v1.events_pb2 import StockLow
from shop.orders.v1.events_pb2 import OrderCancelled
from shop.payments.v1.events_pb2 import PaymentCaptured
from shop.shipping.v1.events_pb2 import ShipmentCreated

pytestmark = pytest.mark.anyio

EUR = {"currencyCode": "EUR", "amountMinor": pact.int64(8900)}
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
ORDERS = pact.new_pact("audit", "orders")
pact.event(
    ORDERS,
    "an order was cancelled",
    OrderCancelled,
    {
        "orderId": pact.uuid(ORDER_ID),
        "customerId": pact.match.str("customer-1"),
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),
        "total": EUR,
        "version": pact.int64(3),
    },
    given="a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind",
)
CATALOG = pact.new_pact("audit", "catalog")
pact.event(
    CATALOG,
    "a product was created",
    ProductUpserted,
    {
        "product": {
            "sku": pact.match.regex("KIT-KNIFE-1", regex=r"^[A-Z0-9][A-Z0-9-]{2,31}$"),
            "name": pact.match.str("Chef's Knife"),
            "price": EUR,
            "weightGrams": pact.match.int(240),
            "imageUrl": pact.match.regex("https://images.example/k.jpg", regex=r"^https://.+$"),
        }
    },
    given="product KIT-KNIFE-1 is created at EUR 89.00",
)
# one representative event of each other context: audit reads every one the same way
PAYMENTS = pact.new_pact("audit", "payments")
pact.event(
    PAYMENTS,
    "a payment was captured",
    PaymentCaptured,
    {
        "paymentId": pact.uuid("0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"),
        "orderId": pact.uuid(ORDER_ID),
        "customerId": pact.match.str("customer-1"),
        "capturedAmount": EUR,
        "authorizedAmount": EUR,
    },
    given="customer-1's payment of EUR 183.00 was authorized and captured",
    order_id=ORDER_ID,
)
INVENTORY = pact.new_pact("audit", "inventory")
pact.event(
    INVENTORY,
    "a product runs low",
    StockLow,
    {
        "sku": pact.match.regex("KIT-KNIFE-1", regex=r"^[A-Z0-9][A-Z0-9-]{2,31}$"),
        "available": pact.match.int(2),
        "threshold": pact.match.int(2),
        "version": pact.int64(2),
    },
    given="5 x KIT-KNIFE-1 with a low-stock threshold of 2, then 3 of them reserved",
)
SHIPPING = pact.new_pact("audit", "shipping")
pact.event(
    SHIPPING,
    "a shipment was created",
    ShipmentCreated,
    {
        "shipmentId": pact.uuid("9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"),
        "orderId": pact.uuid(ORDER_ID),
        "customerId": pact.match.str("customer-1"),
        "lines": pact.match.each_like({"sku": "KIT-KNIFE-1", "quantity": 2}),
        "version": pact.int64(1),
    },
    given="a shipment of 2 x KIT-KNIFE-1 for customer-1's order was created",
    order_id=ORDER_ID,
)
PACTS = [ORDERS, CATALOG, PAYMENTS, INVENTORY, SHIPPING]
COLLECTIONS = {
    "orders": "orders",
    "catalog": "products",
    "payments": "payments",
    "inventory": "stock",
    "shipping": "shipments",
}


@pytest.mark.parametrize("provider", PACTS, ids=lambda p: p.provider)
async def test_audit_files_each_event_by_its_envelope(
    service_app: ServiceApp, runtime: Runtime, provider: pact.Pact
) -> None:
    subscription = pact.subscribed(service_app, runtime, f"audit-{provider.provider}")
    collection = COLLECTIONS[provider.provider]

    for event, envelope in pact.received(provider, subscription).values():
        facts = messages.facts_of(envelope)
        assert facts.type == event.DESCRIPTOR.full_name
        assert facts.subject.startswith(f"{collection}/")
        assert facts.correlation_id


@pytest.mark.parametrize("provider", PACTS, ids=lambda p: p.provider)
async def test_the_pacts_in_the_repository_are_current(provider: pact.Pact) -> None:
    pact.assert_committed(provider)
