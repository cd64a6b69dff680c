"""PlaceOrder's admission control: refused while the unfinished sagas are at the limit,
admitted again once they drain; nothing placed while refused, and a retry of an order
already placed is answered all the same."""

from __future__ import annotations

import uuid

import grpc
import pytest
from orders_fakes import Clock, FakePeers, command, memory_repositories
from orders_world import World

from chassis import faults
from chassis.testing import InMemoryUnitOfWork
from orders import service
from orders.admission import RETRY_AFTER_S, Admission
from orders.domain import Order

pytestmark = pytest.mark.anyio


async def test_new_orders_wait_while_the_sagas_are_behind_and_come_back_when_they_drain() -> None:
    world = World()
    admission = Admission(lambda: world.uow, limit=2)
    await world.place()
    await world.place()
    await admission.refresh()

    with pytest.raises(faults.Overloaded) as refused:
        admission.admit()
    fault = faults.classify(refused.value)
    assert fault is not None
    assert fault.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert fault.retry_delay_s == RETRY_AFTER_S
    assert "2 orders are still being placed" in fault.message

    await world.settle()
    await admission.refresh()
    admission.admit()  # both sagas finished: admitted
    assert admission.unfinished == 0


async def test_a_retry_of_an_order_already_placed_is_answered_while_new_ones_are_refused() -> None:
    uow = InMemoryUnitOfWork(memory_repositories())
    peers, clock = FakePeers(), Clock()
    admission = Admission(lambda: uow, limit=1)

    async def place(key: str) -> Order:
        return await service.place_order(
            lambda: uow,
            idempotency_key=key,
            command=command(),
            shipping=peers,
            clock=clock,
            admit=admission.admit,
        )

    key = str(uuid.uuid4())
    placed = await place(key)
    await admission.refresh()  # its saga is unfinished: the limit is reached

    assert await place(key) == placed  # the client that lost the answer gets it
    with pytest.raises(faults.Overloaded):
        await place(str(uuid.uuid4()))
    await admission.refresh()
    assert admission.unfinished == 1  # nothing new was placed
