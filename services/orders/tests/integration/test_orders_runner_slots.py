"""The saga runner's scheduling on Postgres (peers in memory): each saga is driven as soon
as it is placed, not after the sagas already in flight; at most `max_in_flight` at once;
at most `db_slots` transactions at once, and none held across a call."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType

import pytest
from orders_fakes import FakePeers, command

from chassis.app import Runtime
from chassis.uow import SqlUnitOfWork
from orders import service
from orders.domain import CatalogPrice, Money, Order, OrderStatus
from orders.repository import Repositories
from orders.runner import SagaRunner

pytestmark = pytest.mark.anyio
WAIT_S = 20.0


class GatedPeers(FakePeers):
    """Authorizations wait until let through, one `go()` each."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[str] = []  # keys of the authorizations under way
        self._gate = asyncio.Semaphore(0)

    async def authorize(self, key: str, order: Order, payment_token: str) -> str:
        self.waiting.append(key)
        await self._gate.acquire()
        self.waiting.remove(key)
        return await super().authorize(key, order, payment_token)

    def go(self, count: int = 1) -> None:
        for _ in range(count):
            self._gate.release()


class Transactions:
    """How many of the runner's units of work are open at once, and the most seen."""

    def __init__(self) -> None:
        self.open = 0
        self.most = 0


class CountedUnitOfWork(SqlUnitOfWork[Repositories]):
    def __init__(self, runtime: Runtime, counted: Transactions) -> None:
        super().__init__(runtime.db, Repositories.on)
        self._counted = counted

    async def __aenter__(self) -> CountedUnitOfWork:
        await super().__aenter__()
        self._counted.open += 1
        self._counted.most = max(self._counted.most, self._counted.open)
        await asyncio.sleep(0.01)  # give another saga the chance to overlap
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._counted.open -= 1
        await super().__aexit__(kind, error, traceback)


async def _place(runtime: Runtime, peers: FakePeers) -> str:
    uow = runtime.units_of_work(Repositories.on)
    order = await service.place_order(
        uow, idempotency_key=str(uuid.uuid4()), command=command(), shipping=peers
    )
    return order.order_id


async def _status(runtime: Runtime, order_id: str) -> OrderStatus:
    uow = runtime.units_of_work(Repositories.on)
    viewed = await service.get_order(uow, service.Caller("alice"), order_id)
    return viewed.order.status


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(int(WAIT_S / 0.01)):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


@asynccontextmanager
async def running(runner: SagaRunner) -> AsyncIterator[None]:
    task = asyncio.create_task(runner.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def seeded(runtime: Runtime) -> Runtime:
    await service.project_product(
        runtime.units_of_work(Repositories.on),
        event_key=str(uuid.uuid4()),
        price=CatalogPrice("SKU-1", "Mug", Money("EUR", 1250), 1),
    )
    return runtime


async def test_a_saga_placed_while_others_wait_on_a_call_starts_at_once_up_to_the_bound(
    seeded: Runtime,
) -> None:
    peers = GatedPeers()
    runner = SagaRunner(
        seeded.units_of_work(Repositories.on),
        peers.peers(),
        owner="orders-test",
        poll_interval_s=60.0,  # only wake-ups start sagas in this test
        max_in_flight=2,
    )
    async with running(runner):
        first = await _place(seeded, peers)
        runner.wake()

        async def authorizing(count: int) -> bool:
            return len(peers.waiting) == count

        await _until(lambda: authorizing(1), "the first saga authorizes")
        second = await _place(seeded, peers)
        runner.wake()
        await _until(lambda: authorizing(2), "the second starts while the first waits")
        third = await _place(seeded, peers)
        runner.wake()
        await asyncio.sleep(0.3)
        assert len(peers.waiting) == 2  # two in flight: the third waits for a slot
        peers.go()  # one saga finishes; its slot goes to the third at once
        await _until(lambda: authorizing(2), "the third starts in the freed slot")
        peers.go(2)

        async def confirmed() -> bool:
            statuses = [await _status(seeded, o) for o in (first, second, third)]
            return statuses == [OrderStatus.CONFIRMED] * 3

        await _until(confirmed, "all three confirmed")


async def test_the_runner_holds_at_most_its_database_slots_and_none_across_a_call(
    seeded: Runtime,
) -> None:
    peers = GatedPeers()
    units = Transactions()
    runner = SagaRunner(
        lambda: CountedUnitOfWork(seeded, units), peers.peers(), owner="orders-test", db_slots=2
    )
    orders = [await _place(seeded, peers) for _ in range(6)]
    async with running(runner):

        async def all_authorizing() -> bool:
            return len(peers.waiting) == len(orders)

        await _until(all_authorizing, "every saga is in its authorization")
        assert units.open == 0  # six calls under way, no transaction open
        peers.go(len(orders))

        async def confirmed() -> bool:
            statuses = [await _status(seeded, o) for o in orders]
            return statuses == [OrderStatus.CONFIRMED] * len(orders)

        await _until(confirmed, "all confirmed")
    assert units.most == 2
