"""The orders unit tests' world: use cases and the saga runner on InMemoryUnitOfWork, with
fake peers and a clock that only moves when a test moves it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from orders_fakes import Clock, FakePeers, command, memory_repositories

from chassis.testing import InMemoryUnitOfWork
from orders import saga, service
from orders.domain import Order
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.service import Caller, CancelRequest


class World:
    """An orders instance in memory: the use cases, the runner, fake peers and a clock."""

    def __init__(self) -> None:
        self.uow = InMemoryUnitOfWork(memory_repositories())
        self.peers = FakePeers()
        self.clock = Clock()
        self.runner = SagaRunner(
            lambda: self.uow,
            self.peers.peers(),
            owner="orders-1",
            clock=self.clock,
            rand=lambda: 1.0,
        )

    @property
    def repos(self) -> Repositories:
        return self.uow.repos

    async def place(self, token: str = "tok_visa") -> str:
        order = await service.place_order(
            lambda: self.uow,
            idempotency_key=str(uuid.uuid4()),
            command=command(token=token),
            shipping=self.peers,
            clock=self.clock,
        )
        return order.order_id

    async def cancel(self, order_id: str) -> Order:
        return await service.cancel_order(
            lambda: self.uow,
            idempotency_key=str(uuid.uuid4()),
            request=CancelRequest(order_id, "changed my mind", Caller("alice")),
            shipping=self.peers,
            clock=self.clock,
        )

    def during(self, method: str, then: Callable[[], Awaitable[object]]) -> None:
        """Runs `then` while the peer is answering `method` (once)."""
        original = getattr(self.peers, method)

        async def hooked(*args: object) -> object:
            setattr(self.peers, method, original)
            await then()
            return await original(*args)

        setattr(self.peers, method, hooked)

    async def settle(self, rounds: int = 50) -> None:
        """Runs rounds, moving time past every retry delay, until nothing is due."""
        for _ in range(rounds):
            await self.runner.run_once()
            self.clock.advance(10)

    def order(self, order_id: str) -> Order:
        found = self.repos.orders.rows[order_id]  # type: ignore[attr-defined]
        assert isinstance(found, Order)
        return found

    def saga(self, order_id: str) -> saga.Saga:
        found = self.repos.sagas.rows[order_id]  # type: ignore[attr-defined]
        assert isinstance(found, saga.Saga)
        return found

    def methods(self) -> list[str]:
        return [r.method for r in self.peers.received if r.method != "quote"]

    def events(self) -> list[str]:
        return [type(e.event).__name__ for e in self.uow.committed]
