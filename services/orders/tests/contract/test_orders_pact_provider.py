"""Orders keeps every consumer's pact with it (pacts/*-orders.json): each event a consumer
names is produced by orders' real use cases on Postgres (PlaceOrder, the saga, CancelOrder;
its peers are the in-memory fakes, they are not what is verified here) and read back from
its outbox, as the relay would publish it.

Orders' own events into its order history (`orders-order-history`) have no pact: producer
and consumer are the same code at the same commit, so such a pact would verify orders
against itself and could not fail on its own. The history's tests project the real outbox
(orders_projection.py); events an older orders left in the stream are the version
packages' concern (expand/contract)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from orders_fakes import Crash, FakePeers, command

from chassis.app import Runtime
from chassis.testing import pact
from orders import saga, service
from orders.domain import CartLine, CatalogPrice, Money
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.service import Caller, CancelRequest, UoW, utc_now
from shop.orders.v1.events_pb2 import (
    OrderCancellationCompleted,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrderRejected,
)

pytestmark = pytest.mark.anyio

CONFIRMED = "a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 by customer-1"
CANCELLED_AFTER_CONFIRMATION = (
    "a confirmed order of 2 x KIT-KNIFE-1 at EUR 89.00 is cancelled: changed my mind"
)
PLACED = "an order of 2 x KIT-KNIFE-1 at EUR 89.00 by customer-1 is placed, shipped to Berlin"
REJECTED = "an order of 2 x KIT-KNIFE-1 by customer-1 is rejected: the card was declined"
CANCELLED_WHILE_PLACED = (
    "an order of 2 x KIT-KNIFE-1 by customer-1 is cancelled while it is placed, "
    "after its payment was authorized: ordered twice"
)


@dataclass(frozen=True)
class Orders:
    runtime: Runtime
    peers: FakePeers

    @property
    def uow(self) -> UoW:
        return self.runtime.units_of_work(Repositories.on)

    async def confirmed(self, _: pact.Params) -> None:
        await self.confirm()

    async def place(self) -> str:
        """PlaceOrder (to Alice in Berlin, standard shipping: orders_fakes.command)."""
        knife = CatalogPrice("KIT-KNIFE-1", "Chef's Knife", Money("EUR", 8900), 1)
        await service.project_product(self.uow, event_key=str(uuid.uuid4()), price=knife)
        placed = await service.place_order(
            self.uow,
            idempotency_key=str(uuid.uuid4()),
            command=command("customer-1", lines=(CartLine("KIT-KNIFE-1", 2),)),
            shipping=self.peers,
        )
        return placed.order_id

    async def placed(self, _: pact.Params) -> None:
        await self.place()

    async def confirm(self) -> str:
        """PlaceOrder, then the saga to its end with peers that agree to everything."""
        order_id = await self.place()
        await SagaRunner(self.uow, self.peers.peers(), owner="orders-pact").run_once()
        return order_id

    async def rejected(self, _: pact.Params) -> None:
        """PlaceOrder, then the saga with a payments that declines the card."""
        await self.place()
        declining = FakePeers(declined=True)
        await SagaRunner(self.uow, declining.peers(), owner="orders-pact").run_once()

    async def cancelled_after_confirmation(self, _: pact.Params) -> None:
        order_id = await self.confirm()
        await service.cancel_order(
            self.uow,
            idempotency_key=str(uuid.uuid4()),
            request=CancelRequest(order_id, "changed my mind", Caller("customer-1")),
            shipping=self.peers,
        )

    async def cancelled_while_placed(self, _: pact.Params) -> None:
        """The saga authorizes, then its runner dies reserving stock; the customer cancels
        (queued); past the step's deadline a runner takes the saga back, finishes the
        reservation, honours the cancel and undoes both (the authorization VOIDED)."""
        order_id = await self.place()
        self.peers.fail["reserve"] = [Crash()]
        with pytest.raises(Crash):
            await SagaRunner(self.uow, self.peers.peers(), owner="orders-pact").run_once()
        await service.cancel_order(
            self.uow,
            idempotency_key=str(uuid.uuid4()),
            request=CancelRequest(order_id, "ordered twice", Caller("customer-1")),
            shipping=self.peers,
        )
        step = saga.STEPS[1].action.deadline + timedelta(seconds=1)
        await SagaRunner(
            self.uow, self.peers.peers(), owner="orders-pact", clock=lambda: utc_now() + step
        ).run_once()


async def test_orders_keeps_its_consumers_pacts(runtime: Runtime) -> None:
    orders = Orders(runtime, FakePeers())
    await pact.verify_provider(
        "orders",
        states={
            CONFIRMED: orders.confirmed,
            CANCELLED_AFTER_CONFIRMATION: orders.cancelled_after_confirmation,
            PLACED: orders.placed,
            REJECTED: orders.rejected,
            CANCELLED_WHILE_PLACED: orders.cancelled_while_placed,
        },
        events={
            "an order was confirmed": lambda: pact.newest_event(runtime.db, OrderConfirmed),
            "an order was cancelled": lambda: pact.newest_event(runtime.db, OrderCancelled),
            "an order was placed": lambda: pact.newest_event(runtime.db, OrderPlaced),
            "an order was rejected": lambda: pact.newest_event(runtime.db, OrderRejected),
            "an order's cancellation while it was placed was completed": lambda: pact.newest_event(
                runtime.db, OrderCancellationCompleted
            ),
        },
        reset=lambda: pact.emptied(runtime.db),
    )
