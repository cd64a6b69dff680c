"""What orders needs of catalog's events (its pact with catalog, pacts/orders-catalog.json):
the price read model is kept from ProductUpserted and PriceChanged. Each message of the pact
goes through the chassis's decoder as orders' subscription receives it, then through the
subscription's real handler into the read model on Postgres."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chassis.consumer import Delivery
from chassis.testing import pact
from chassis.uow import SqlUnitOfWork
from orders import prices
from orders.domain import CatalogPrice, Money
from orders.repository import Repositories
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted
from shop.common.v1.event_pb2 import EventEnvelope

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("orders", "catalog")
CREATED = "a product was created"
REPRICED = "a product's price changed"


def money(currency: str, minor: int) -> dict[str, object]:
    return {"currencyCode": currency, "amountMinor": pact.int64(minor)}


pact.event(
    PACT,
    CREATED,
    ProductUpserted,
    {
        "product": {
            # what the read model keeps
            "sku": "KIT-KNIFE-1",
            "name": "Chef's Knife",
            "price": money("EUR", 8900),
            "version": pact.int64(1),
            # what the decoder's validation of a Product needs
            "weightGrams": 240,
            "imageUrl": "https://images.example/knife.jpg",
        },
    },
    given="product KIT-KNIFE-1 is created at EUR 89.00",
)
pact.event(
    PACT,
    REPRICED,
    PriceChanged,
    {
        "sku": "KIT-KNIFE-1",
        "newPrice": money("EUR", 7900),
        "version": pact.int64(2),
        "oldPrice": money("EUR", 8900),  # not read, but the contract requires it
    },
    given="product KIT-KNIFE-1 is repriced from EUR 89.00 to EUR 79.00",
)


def delivered(event: ProductUpserted | PriceChanged) -> Delivery:
    return Delivery(EventEnvelope(id=event.DESCRIPTOR.name), prices.SUBSCRIPTION, 1, "CATALOG", 1)


async def test_orders_keeps_the_price_of_a_created_product_then_its_new_price(
    uow: Callable[[], SqlUnitOfWork[Repositories]],
) -> None:
    subscription = prices.subscription(uow)
    received = pact.received_events(PACT, subscription)

    await subscription.handle(received[CREATED], delivered(received[CREATED]))
    async with uow() as reading:
        created = await reading.repos.prices.get_many(["KIT-KNIFE-1"])
    await subscription.handle(received[REPRICED], delivered(received[REPRICED]))
    async with uow() as reading:
        repriced = await reading.repos.prices.get_many(["KIT-KNIFE-1"])

    assert created == {
        "KIT-KNIFE-1": CatalogPrice("KIT-KNIFE-1", "Chef's Knife", Money("EUR", 8900), 1)
    }
    assert repriced["KIT-KNIFE-1"] == CatalogPrice(
        "KIT-KNIFE-1", "Chef's Knife", Money("EUR", 7900), 2
    )


def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
