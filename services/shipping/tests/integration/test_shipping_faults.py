"""Shipping under dependency faults (the chassis's scenarios, chassis.testing.faults): a
database outage answers UNAVAILABLE, takes the instance out of rotation and heals by
itself; a full connection pool sheds calls as RESOURCE_EXHAUSTED."""

from __future__ import annotations

import uuid

import grpc
import grpc.aio
import pytest

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from shop.common.v1 import address_pb2
from shop.shipping.v1 import shipment_pb2
from shop.shipping.v1 import shipping_service_pb2 as pb
from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

pytestmark = pytest.mark.anyio


async def create_shipment(channel: grpc.aio.Channel) -> object:
    """A call that needs the database (and nothing else): a new shipment for a new order."""
    request = pb.CreateShipmentRequest(
        idempotency_key=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        customer_id="customer-7",
        address=address_pb2.Address(
            recipient="Erika Mustermann",
            lines=["Heidestraße 17"],
            locality="Köln",
            postal_code="51147",
            country_code="DE",
        ),
        lines=[shipment_pb2.ShipmentLine(sku="KIT-KNIFE-1", quantity=1)],
        service_level=shipment_pb2.SERVICE_LEVEL_STANDARD,
    )
    return await ShippingServiceStub(channel).CreateShipment(request, timeout=10)


async def test_a_database_outage_is_unavailable_and_the_instance_heals_by_itself(
    service_app: ServiceApp,
) -> None:
    await assert_database_outage_survived(service_app, create_shipment)


async def test_a_full_pool_sheds_the_call_instead_of_queueing_it(
    service_app: ServiceApp, clean_database: str
) -> None:
    await assert_full_pool_sheds(service_app, clean_database, create_shipment)
