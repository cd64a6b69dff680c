"""The saga's metrics: calls per step and outcome, and the sagas-by-phase gauge `shop
status` reads (refreshed by the saga-counter worker's one query)."""

from __future__ import annotations

import uuid

import pytest
from orders_fakes import Clock, FakePeers, command, memory_repositories
from prometheus_client import REGISTRY

from chassis.testing import InMemoryUnitOfWork
from orders import main, service
from orders.runner import SagaRunner

pytestmark = pytest.mark.anyio


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_step_calls_and_sagas_by_phase_are_counted() -> None:
    uow = InMemoryUnitOfWork(memory_repositories())
    peers, clock = FakePeers(), Clock()
    for _ in range(2):
        await service.place_order(
            lambda: uow,
            idempotency_key=str(uuid.uuid4()),
            command=command(),
            shipping=peers,
            clock=clock,
        )
    count = main.saga_counter(lambda: uow)
    await count()
    assert sample("orders_sagas", phase="FORWARD") == 2
    assert sample("orders_sagas", phase="CONFIRMED") == 0

    calls = {"step": "CAPTURE_PAYMENT", "outcome": "ok"}
    before = sample("order_saga_step_calls_total", **calls)
    await SagaRunner(lambda: uow, peers.peers(), owner="orders-1", clock=clock).run_once()
    await count()
    assert sample("orders_sagas", phase="FORWARD") == 0
    assert sample("orders_sagas", phase="CONFIRMED") == 2
    assert sample("order_saga_step_calls_total", **calls) == before + 2
    assert sample("order_saga_step_duration_seconds_count", step="CAPTURE_PAYMENT") >= 2
