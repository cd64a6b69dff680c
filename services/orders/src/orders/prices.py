"""The catalog price read model: kept from catalog's ProductUpserted and PriceChanged
events (the subscription), and filled from catalog's ListProducts when the instance starts
and every few minutes after (the backfill: a new orders database, or events missed while
orders could not consume them). Both keep a price only if its version is newer, so their
order does not matter. PlaceOrder reads only this copy: no call to catalog while placing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc.aio

from chassis.app import Worker
from chassis.consumer import Delivery, Subscription
from chassis.errors import PeerError, peer_error
from orders import events, service
from orders.domain import CatalogPrice, Money
from orders.service import UoW
from shop.catalog.v1 import catalog_service_pb2 as catalog_pb
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceStub
from shop.catalog.v1.events_pb2 import PriceChanged, ProductUpserted

if TYPE_CHECKING:
    from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceAsyncStub

log = logging.getLogger("orders.prices")

SUBSCRIPTION = "orders-catalog-prices"
BACKFILL_RETRY_S = 5.0  # until the first backfill succeeded
BACKFILL_INTERVAL_S = 30.0  # cheap (one page per 100 products); heals what events missed


def subscription(unit_of_work: UoW) -> Subscription[ProductUpserted | PriceChanged]:
    async def handle(event: ProductUpserted | PriceChanged, delivery: Delivery) -> None:
        if isinstance(event, ProductUpserted):
            await service.project_product(
                unit_of_work, event_key=delivery.key, price=events.price_of_product(event)
            )
        else:
            sku, price, version = events.new_price(event)
            await service.project_price_change(
                unit_of_work, event_key=delivery.key, sku=sku, price=price, version=version
            )

    return Subscription(SUBSCRIPTION, [ProductUpserted, PriceChanged], handle)


async def backfill(unit_of_work: UoW, catalog: CatalogServiceAsyncStub) -> int:
    """Every product's price from catalog's ListProducts; how many were read."""
    token, count = "", 0
    while True:
        request = catalog_pb.ListProductsRequest(page_size=100, page_token=token)
        try:
            reply = await catalog.ListProducts(request)
        except grpc.aio.AioRpcError as error:
            raise peer_error(error) from error
        async with unit_of_work() as uow:
            for product in reply.products:
                price = Money(product.price.currency_code, product.price.amount_minor)
                await uow.repos.prices.upsert(
                    CatalogPrice(product.sku, product.name, price, product.version)
                )
            await uow.commit()
        count += len(reply.products)
        token = reply.next_page_token
        if not token:
            return count


def backfill_worker(unit_of_work: UoW, open_channel: Callable[[], grpc.aio.Channel]) -> Worker:
    async def run() -> None:
        catalog: CatalogServiceAsyncStub = CatalogServiceStub(open_channel())
        while True:
            try:
                count = await backfill(unit_of_work, catalog)
            except PeerError as error:
                log.warning("catalog price backfill: %s; again in %.0f s", error, BACKFILL_RETRY_S)
                await asyncio.sleep(BACKFILL_RETRY_S)
                continue
            log.info("catalog price backfill: %d products", count)
            await asyncio.sleep(BACKFILL_INTERVAL_S)

    return Worker("catalog-price-backfill", run)
