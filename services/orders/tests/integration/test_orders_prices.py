"""The catalog price read model from real envelopes (chassis.outbox.envelop) through the
consumer on a real NATS JetStream: newer versions win, a redelivery changes nothing, and
PlaceOrder prices from it."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import pytest
from nats.js import JetStreamContext

from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.outbox import envelop, event_route
from chassis.testing import serving
from chassis.testing.plugin import NatsServer, instance_settings, jetstream
from orders import main
from orders.domain import CatalogPrice, Money
from orders.grpc_api import ERRORS
from orders.repository import Repositories
from shop.catalog.v1 import product_pb2
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted
from shop.common.v1 import money_pb2

pytestmark = pytest.mark.anyio
APP = ServiceApp(
    "orders",
    wire=functools.partial(main.wire, backfill=False),
    errors=ERRORS,
    migrations=main.MIGRATIONS_DIR,
)


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    async with jetstream(nats_server, "catalog", "orders") as stream:
        yield stream


def eur(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", amount_minor=minor)


def product(sku: str, name: str, minor: int) -> product_pb2.Product:
    return product_pb2.Product(
        sku=sku,
        name=name,
        price=eur(minor),
        version=1,
        weight_grams=500,
        image_url="https://images.example/p.jpg",
    )


async def publish(js: JetStreamContext, event: ProductUpserted | PriceChanged, msg_id: str) -> None:
    envelope = envelop(event, "SKU-1").envelope
    subject = event_route(event.DESCRIPTOR).subject
    await js.publish(subject, envelope.SerializeToString(), headers={"Nats-Msg-Id": msg_id})


async def price(db: Database, sku: str) -> CatalogPrice | None:
    async with db.transaction() as conn:
        return (await Repositories.on(conn).prices.get_many([sku])).get(sku)


async def until(db: Database, sku: str, version: int) -> CatalogPrice:
    for _ in range(600):
        found = await price(db, sku)
        if found is not None and found.version >= version:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sku} never reached version {version}")


async def test_prices_follow_catalog_events_and_ignore_stale_ones(
    nats_server: NatsServer, js: JetStreamContext, db: Database, clean_database: str
) -> None:
    settings = instance_settings("orders", clean_database, nats_url=nats_server.url)
    async with serving(APP, Runtime(settings, db)):
        await publish(js, ProductUpserted(product=product("SKU-1", "Mug", 1250), created=True), "1")
        assert (await until(db, "SKU-1", 1)).price == Money("EUR", 1250)
        change = PriceChanged(sku="SKU-1", old_price=eur(1250), new_price=eur(990), version=2)
        await publish(js, change, "2")
        await publish(js, change, "2-again")  # a republished event: no second effect
        assert (await until(db, "SKU-1", 2)).price == Money("EUR", 990)
        stale = PriceChanged(sku="SKU-1", old_price=eur(1), new_price=eur(5), version=1)
        await publish(js, stale, "3")
        await publish(js, ProductUpserted(product=product("SKU-2", "Cup", 700), created=True), "4")
        await until(db, "SKU-2", 1)  # events are handled in order: the stale one was seen
    assert await price(db, "SKU-1") == CatalogPrice("SKU-1", "Mug", Money("EUR", 990), 2)
