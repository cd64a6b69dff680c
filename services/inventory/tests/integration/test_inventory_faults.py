"""Inventory under dependency faults (the chassis's scenarios, chassis.testing.faults):
a database outage answers UNAVAILABLE, takes the instance out of rotation and heals by
itself (its expiry sweeper included); a full connection pool sheds calls as
RESOURCE_EXHAUSTED."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from inventory import seed
from shop.inventory.v1 import inventory_service_pb2 as pb
from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceStub

pytestmark = pytest.mark.anyio

SKU = seed.load().stock[0].sku


async def get_stock(channel: grpc.aio.Channel) -> object:
    return await InventoryServiceStub(channel).GetStock(pb.GetStockRequest(sku=SKU), timeout=10)


async def test_a_database_outage_is_unavailable_and_the_instance_heals_by_itself(
    service_app: ServiceApp,
) -> None:
    await assert_database_outage_survived(service_app, get_stock)


async def test_a_full_pool_sheds_the_call_instead_of_queueing_it(
    service_app: ServiceApp, clean_database: str
) -> None:
    await assert_full_pool_sheds(service_app, clean_database, get_stock)
