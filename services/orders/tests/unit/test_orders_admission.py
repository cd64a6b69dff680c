"""PlaceOrder's admission control: refused while the unfinished sagas are at the limit,
admitted again once they drain; nothing placed while refused."""

from __future__ import annotations

import grpc
import pytest
from orders_world import World

from chassis import faults
from orders.admission import RETRY_AFTER_S, Admission

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
