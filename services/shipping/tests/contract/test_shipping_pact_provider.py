"""Shipping keeps every consumer's pact with it (pacts/*-shipping.json): each call a
consumer names runs through shipping's real servicer (the chassis interceptors, validation,
the use cases, the rate table, Postgres) in its in-process instance. The catalog it asks
for weights is played from shipping's own pact with the catalog (shipping_pacts.CATALOG),
which the catalog verifies in turn. Each event is produced by such calls and read back from
shipping's outbox."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc.aio
import pytest
from shipping_pacts import CATALOG

from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.testing import pact, serving
from chassis.testing.plugin import instance_settings
from chassis.uow import SqlUnitOfWork
from shipping import service
from shipping.repository import Repositories
from shop.common.v1.address_pb2 import Address
from shop.shipping.v1 import shipment_pb2
from shop.shipping.v1 import shipping_service_pb2 as pb
from shop.shipping.v1.events_pb2 import ShipmentCancelled, ShipmentCreated, ShipmentDispatched
from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

pytestmark = pytest.mark.anyio
PICKUP = timedelta(days=30)  # later than any pickup the rate table plans


@pytest.fixture(scope="module")
async def channel(
    service_app: ServiceApp, module_db: Database, database_url: str
) -> AsyncIterator[grpc.aio.Channel]:
    """Shipping in-process, reaching "its sidecar" at the catalog played from its pact."""
    async with pact.pact_server(CATALOG) as catalog:
        settings = instance_settings("shipping", database_url, mesh_outbound=catalog)
        async with serving(service_app, Runtime(settings, module_db)) as opened:
            yield opened


async def served(_: pact.Params) -> None:
    """The rate table shipping ships with serves DE; nothing to set up."""


@dataclass(frozen=True)
class Shipping:
    """The provider's states, set up through shipping's own API (and its dispatch timer's
    use case, run as if its pickup time had come)."""

    channel: grpc.aio.Channel
    db: Database

    async def ship(self, params: pact.Params) -> str:
        reply = await ShippingServiceStub(self.channel).CreateShipment(
            pb.CreateShipmentRequest(
                idempotency_key=str(uuid.uuid4()),
                order_id=params["order_id"],
                customer_id="customer-1",
                address=Address(
                    recipient="Alice",
                    lines=["1 Main St"],
                    locality="Berlin",
                    postal_code="10115",
                    country_code="DE",
                ),
                lines=[shipment_pb2.ShipmentLine(sku="KIT-KNIFE-1", quantity=2)],
                service_level=shipment_pb2.SERVICE_LEVEL_STANDARD,
            )
        )
        return str(reply.shipment.shipment_id)

    async def pending(self, params: pact.Params) -> pact.Aliases:
        """ "shipment S of the order is pending": S is the consumer's name for it."""
        return {params["shipment_id"]: await self.ship(params)}

    async def shipped(self, params: pact.Params) -> None:
        await self.ship(params)

    async def dispatched(self, params: pact.Params) -> None:
        await self.ship(params)
        handed_over = await service.dispatch_due_shipments(
            SqlUnitOfWork(self.db, Repositories.on), clock=lambda: datetime.now(UTC) + PICKUP
        )
        assert len(handed_over) == 1

    async def cancelled(self, params: pact.Params) -> None:
        await ShippingServiceStub(self.channel).CancelShipment(
            pb.CancelShipmentRequest(
                idempotency_key=str(uuid.uuid4()),
                shipment_id=await self.ship(params),
                reason="order cancelled",
            )
        )


async def test_shipping_keeps_its_consumers_pacts(
    channel: grpc.aio.Channel, module_db: Database
) -> None:
    shipping = Shipping(channel, module_db)
    shipped = "a shipment of 2 x KIT-KNIFE-1 for customer-1's order was created"
    await pact.verify_provider(
        "shipping",
        states={
            "shipping serves DE": served,
            "shipment 9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5 of the order is pending": (
                shipping.pending
            ),
            shipped: shipping.shipped,
            f"{shipped}, then cancelled: order cancelled": shipping.cancelled,
            f"{shipped}, then dispatched": shipping.dispatched,
        },
        events={
            "a shipment was created": lambda: pact.newest_event(module_db, ShipmentCreated),
            "a shipment was cancelled": lambda: pact.newest_event(module_db, ShipmentCancelled),
            "a shipment was dispatched": lambda: pact.newest_event(module_db, ShipmentDispatched),
        },
        channel=channel,
        reset=lambda: pact.emptied(module_db),
    )
