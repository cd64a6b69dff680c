"""Inventory keeps every consumer's pact with it (pacts/*-inventory.json): each call a
consumer names runs through inventory's real servicer (the chassis interceptors,
validation, the use case, Postgres) in its in-process instance, in the stock and
reservations the consumer named, set up by inventory's own use cases; each event is
produced by those use cases and read back from inventory's outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc.aio
import pytest

from chassis.db import Database
from chassis.testing import pact
from chassis.uow import SqlUnitOfWork
from inventory import service
from inventory.domain import (
    Adjustment,
    OpeningStock,
    OrderCancellation,
    ReservationLine,
    ReservationRequest,
)
from inventory.repository import Repositories
from shop.inventory.v1.events_pb2 import ReservationRestocked, StockLow

pytestmark = pytest.mark.anyio
KNIFE = "KIT-KNIFE-1"


@dataclass(frozen=True)
class Inventory:
    db: Database

    def uow(self) -> SqlUnitOfWork[Repositories]:
        return SqlUnitOfWork(self.db, Repositories.on)

    async def stock_of(self, params: pact.Params) -> None:
        """ "stock of SKU X is N": N units on hand, none reserved."""
        await service.adjust_stock(
            self.uow(),
            idempotency_key=str(uuid.uuid4()),
            adjustment=Adjustment(params["sku"], int(params["on_hand"]), "pact provider state"),
        )

    async def reserve(self, order_id: str, line: ReservationLine) -> str:
        """Exactly `line` in stock, then all of it reserved for the order; its id."""
        await self.stock_of({"sku": line.sku, "on_hand": line.quantity})
        reservation = await service.reserve_stock(
            self.uow(),
            idempotency_key=str(uuid.uuid4()),
            request=ReservationRequest(order_id, (line,), ttl_seconds=None),
        )
        return reservation.reservation_id

    async def reserved(self, params: pact.Params) -> pact.Aliases:
        """ "reservation R holds Q x SKU": what the consumer calls R, made by ReserveStock."""
        line = ReservationLine(params["sku"], int(params["quantity"]))
        return {params["reservation_id"]: await self.reserve(params["order_id"], line)}

    async def restocked(self, params: pact.Params) -> None:
        """A reservation of the order, confirmed, then the order's OrderCancelled as
        inventory's subscription hands it over: its units go back on hand."""
        reservation_id = await self.reserve(params["order_id"], ReservationLine(KNIFE, 2))
        await service.confirm_reservation(
            self.uow(), idempotency_key=str(uuid.uuid4()), reservation_id=reservation_id
        )
        await service.release_or_restock_cancelled_order(
            self.uow(),
            event_key=str(uuid.uuid4()),
            cancellation=OrderCancellation(params["order_id"], reservation_id, "changed my mind"),
        )

    async def running_low(self, _: pact.Params) -> None:
        """5 on hand, alert at 2, then a reservation of 3: available crosses the threshold."""
        await service.open_stock(
            self.uow(),
            idempotency_key=str(uuid.uuid4()),
            opening=OpeningStock("KIT-KNIFE-1", on_hand=5, low_stock_threshold=2),
            reason="pact provider state",
        )
        await service.reserve_stock(
            self.uow(),
            idempotency_key=str(uuid.uuid4()),
            request=ReservationRequest(
                str(uuid.uuid4()), (ReservationLine("KIT-KNIFE-1", 3),), ttl_seconds=None
            ),
        )


async def test_inventory_keeps_its_consumers_pacts(
    channel: grpc.aio.Channel, module_db: Database
) -> None:
    inventory = Inventory(module_db)
    await pact.verify_provider(
        "inventory",
        states={
            "stock of SKU KIT-KNIFE-1 is 3": inventory.stock_of,
            "stock of SKU KIT-KNIFE-1 is 1": inventory.stock_of,
            "reservation 5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8 holds 2 x KIT-KNIFE-1": (
                inventory.reserved
            ),
            "a confirmed reservation of 2 x KIT-KNIFE-1 was restocked: its order was cancelled": (
                inventory.restocked
            ),
            "5 x KIT-KNIFE-1 with a low-stock threshold of 2, then 3 of them reserved": (
                inventory.running_low
            ),
        },
        events={
            "a product runs low": lambda: pact.newest_event(module_db, StockLow),
            "a reservation was restocked": lambda: pact.newest_event(
                module_db, ReservationRestocked
            ),
        },
        channel=channel,
        reset=lambda: pact.emptied(module_db),
    )
