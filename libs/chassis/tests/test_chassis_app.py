"""chassis.app: workers run beside the server under the instance's lifecycle; a dead
worker takes the instance out of rotation until it has been restarted."""

from __future__ import annotations

import asyncio

import pytest
from chassis_slow_service import MIGRATIONS
from chassis_support import FakeCatalog
from grpc_health.v1 import health_pb2

from chassis.app import Runtime, ServiceApp, Wiring, Worker
from chassis.db import Database
from chassis.migrations import upgrade_to_head
from chassis.testing.plugin import instance_settings
from chassis.testing.server import health, serving, until_serving
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc

pytestmark = pytest.mark.anyio
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FlakyRelay:
    """A worker that crashes on its first run and then works until cancelled."""

    def __init__(self, crash_with: Exception) -> None:
        self.runs = 0
        self.crash_with = crash_with
        self.crash = asyncio.Event()
        self.running_again = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            await self.crash.wait()
            raise self.crash_with
        self.running_again.set()
        await asyncio.Event().wait()


def app_with(relay: FlakyRelay) -> ServiceApp:
    return ServiceApp(
        "catalog",
        wire=lambda runtime: Wiring(
            servicers=[FakeCatalog()], workers=[Worker("outbox-relay", relay.run)]
        ),
        migrations=MIGRATIONS,
    )


async def test_a_crashed_worker_holds_the_instance_out_of_rotation_until_restarted(
    database_url: str,
) -> None:
    upgrade_to_head(database_url, MIGRATIONS)
    relay = FlakyRelay(RuntimeError("a bug"))
    app = app_with(relay)
    db = Database(database_url)
    try:
        async with serving(app, Runtime(instance_settings("catalog", database_url), db)) as channel:
            relay.crash.set()
            async with asyncio.timeout(30):
                await until_serving(channel, serving=False)
            seen_down = await health(channel)
            # Out of rotation, not out of service: a call that still arrives is answered.
            reply = await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                catalog.GetProductRequest(sku="SKU-1")
            )
            async with asyncio.timeout(30):
                await relay.running_again.wait()
            async with asyncio.timeout(30):
                await until_serving(channel)
    finally:
        await db.dispose()

    assert seen_down == NOT_SERVING
    assert reply.product.sku == "SKU-1"
    assert relay.runs == 2


async def test_a_worker_that_met_a_dependency_fault_is_restarted_without_leaving_rotation(
    database_url: str,
) -> None:
    upgrade_to_head(database_url, MIGRATIONS)
    relay = FlakyRelay(ConnectionRefusedError("the broker went away"))
    db = Database(database_url)
    seen: list[int] = []
    try:
        runtime = Runtime(instance_settings("catalog", database_url), db)
        async with serving(app_with(relay), runtime) as channel:
            relay.crash.set()
            while not relay.running_again.is_set():
                seen.append(await health(channel))
                await asyncio.sleep(0.01)
    finally:
        await db.dispose()

    assert relay.runs == 2
    assert NOT_SERVING not in seen  # the fault is the dependency's to report, not the worker's
