"""Notifications under dependency faults (the chassis's scenarios, chassis.testing.faults):
a database outage answers UNAVAILABLE, takes the instance out of rotation and heals by
itself (its sender and consumers included); a full connection pool sheds calls as
RESOURCE_EXHAUSTED."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from notifications_examples import ADA

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from shop.notifications.v1 import notifications_service_pb2 as pb
from shop.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceStub

pytestmark = pytest.mark.anyio


async def list_notifications(channel: grpc.aio.Channel) -> object:
    return await NotificationsServiceStub(channel).ListNotifications(
        pb.ListNotificationsRequest(), metadata=(("x-shop-subject", ADA),), timeout=10
    )


async def test_a_database_outage_is_unavailable_and_the_instance_heals_by_itself(
    service_app: ServiceApp,
) -> None:
    await assert_database_outage_survived(service_app, list_notifications)


async def test_a_full_pool_sheds_the_call_instead_of_queueing_it(
    service_app: ServiceApp, clean_database: str
) -> None:
    await assert_full_pool_sheds(service_app, clean_database, list_notifications)
