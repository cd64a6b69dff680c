"""The dependency faults every service must survive (chassis.testing.faults)."""

from __future__ import annotations

import grpc.aio
import pytest

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceStub

pytestmark = pytest.mark.anyio
ALICE = (("x-shop-subject", "alice"),)


async def list_orders(channel: grpc.aio.Channel) -> object:
    return await OrdersServiceStub(channel).ListOrders(pb.ListOrdersRequest(), metadata=ALICE)


async def test_a_database_outage_is_survived(service_app: ServiceApp) -> None:
    await assert_database_outage_survived(service_app, list_orders)


async def test_a_full_pool_sheds_calls(service_app: ServiceApp, database_url: str) -> None:
    await assert_full_pool_sheds(service_app, database_url, list_orders)
