"""The server bootstrap: health, reflection, readiness, and graceful shutdown on SIGTERM."""

import asyncio
import json
import os
import re
import signal
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import grpc.aio
import pytest
from chassis_slow_service import MIGRATIONS
from chassis_support import CATALOG, FakeCatalog, running, settings
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from chassis.migrations import upgrade_to_head
from chassis.server import Server
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc

SLOW_SERVICE = Path(__file__).with_name("chassis_slow_service.py")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def health_of(channel: grpc.aio.Channel, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
    return int(response.status)


def test_health_reports_the_server_and_each_service() -> None:
    async def check() -> tuple[int, int, grpc.StatusCode]:
        async with running(FakeCatalog()) as (_, channel):
            overall = await health_of(channel, "")
            service = await health_of(channel, CATALOG)
            try:
                await health_of(channel, "shop.nothing.v1.Nothing")
            except grpc.aio.AioRpcError as error:
                return overall, service, error.code()
            raise AssertionError("an unknown service has no health")

    assert asyncio.run(check()) == (SERVING, SERVING, grpc.StatusCode.NOT_FOUND)


def test_reflection_lists_the_services() -> None:
    async def list_services() -> set[str]:
        async with running(FakeCatalog()) as (_, channel):
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            async for response in stub.ServerReflectionInfo(iter([request])):
                return {s.name for s in response.list_services_response.service}
        raise AssertionError("no reflection response")

    assert asyncio.run(list_services()) == {
        CATALOG,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_the_server_is_not_serving_until_on_start_has_run() -> None:
    async def scenario() -> list[int]:
        release = asyncio.Event()
        server = Server(settings(), servicers=[FakeCatalog()])
        starting = asyncio.create_task(server.start(release.wait))
        try:
            while not server.port:  # bound before on_start runs
                await asyncio.sleep(0.01)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                during = await health_of(channel, CATALOG)
                release.set()
                await starting
                after = await health_of(channel, CATALOG)
        finally:
            release.set()
            await starting
            await server.stop()
        return [during, after]

    assert asyncio.run(scenario()) == [NOT_SERVING, SERVING]


class JsonLog:
    """A service process's stdout, read line by line as JSON."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self.lines: list[dict[str, object]] = []

    async def wait_for(self, wanted: Callable[[dict[str, object]], bool]) -> dict[str, object]:
        while True:
            async with asyncio.timeout(30):
                raw = await self._stream.readline()
            if not raw:
                raise AssertionError(f"the service exited; it logged {self.lines}")
            line: dict[str, object] = json.loads(raw)
            self.lines.append(line)
            if wanted(line):
                return line

    async def port(self, name: str) -> int:
        """The port the service logged it listens on (it binds port 0: a free one)."""
        return int(str((await self.wait_for(lambda line: name in line))[name]))


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """A database at the slow service's head revision (its example migrations)."""
    upgrade_to_head(database_url, MIGRATIONS)
    return database_url


def test_sigterm_lets_the_call_in_flight_finish_and_exits_cleanly(migrated_url: str) -> None:
    env = os.environ | {
        "SHOP_SERVICE": "catalog",
        "SHOP_INSTANCE": "catalog-slow",
        "SHOP_DATABASE_URL": migrated_url,
        "SHOP_GRPC_PORT": "0",
        "SHOP_METRICS_PORT": "0",
        "SHOP_SHUTDOWN_GRACE_S": "30",
        "PYTHONPATH": os.pathsep.join([str(SLOW_SERVICE.parent), os.environ.get("PYTHONPATH", "")]),
    }

    async def scenario() -> tuple[int, catalog.GetProductResponse, str, list[dict[str, object]]]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SLOW_SERVICE), env=env, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            log = JsonLog(process.stdout)
            metrics_port = await log.port("metrics_port")
            grpc_port = await log.port("grpc_port")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                call = catalog_grpc.CatalogServiceStub(channel).GetProduct(
                    catalog.GetProductRequest(sku="SKU-9"), timeout=30
                )
                await log.wait_for(lambda line: line["message"] == "GetProduct started")
                metrics = await asyncio.to_thread(scrape, metrics_port)
                process.send_signal(signal.SIGTERM)
                response = await call
            await log.wait_for(lambda line: line["message"] == "stopped")
            async with asyncio.timeout(30):
                exit_code = await process.wait()
            return exit_code, response, metrics, log.lines
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    exit_code, response, metrics, lines = asyncio.run(scenario())

    assert exit_code == 0
    assert response.product.sku == "SKU-9"
    in_flight = {
        sample.labels["grpc_method"]: sample.value
        for family in text_string_to_metric_families(metrics)
        if family.name == "grpc_server_in_flight_calls"
        for sample in family.samples
        if sample.labels["instance"] == "catalog-slow"
    }
    assert in_flight == {"GetProduct": 1.0}
    messages = [line["message"] for line in lines]
    assert messages.index("GetProduct started") < messages.index("stopped")
    assert any(str(m).startswith("shutting down") for m in messages)
    access = [line for line in lines if line["logger"] == "chassis.access"]
    assert [(line["method"], line["code"]) for line in access] == [(f"/{CATALOG}/GetProduct", "OK")]
    assert re.fullmatch("[0-9a-f]{32}", str(access[0]["trace_id"]))  # serve() set up tracing


def test_a_drained_server_is_not_serving_until_undrained_and_never_before_it_is_ready() -> None:
    async def scenario() -> list[int]:
        release = asyncio.Event()
        server = Server(settings(), servicers=[FakeCatalog()])
        starting = asyncio.create_task(server.start(release.wait))
        seen = []
        try:
            while not server.port:
                await asyncio.sleep(0.01)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                await server.drain()
                await server.undrain()  # not ready yet: on_start still runs
                seen.append(await health_of(channel, CATALOG))
                await server.drain()
                release.set()
                await starting  # ready, but drained
                seen.append(await health_of(channel, ""))
                await server.undrain()
                seen += [await health_of(channel, ""), await health_of(channel, CATALOG)]
                await server.drain()
                seen += [await health_of(channel, ""), await health_of(channel, CATALOG)]
        finally:
            release.set()
            await starting
            await server.stop()
        return seen

    assert asyncio.run(scenario()) == [
        NOT_SERVING,
        NOT_SERVING,
        SERVING,
        SERVING,
        NOT_SERVING,
        NOT_SERVING,
    ]


def test_sigusr1_drains_a_running_service_and_sigusr2_puts_it_back(migrated_url: str) -> None:
    env = os.environ | {
        "SHOP_SERVICE": "catalog",
        "SHOP_INSTANCE": "catalog-drain",
        "SHOP_DATABASE_URL": migrated_url,
        "SHOP_GRPC_PORT": "0",
        "SHOP_METRICS_PORT": "0",
        "PYTHONPATH": os.pathsep.join([str(SLOW_SERVICE.parent), os.environ.get("PYTHONPATH", "")]),
    }

    async def scenario() -> tuple[list[int], str, int]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(SLOW_SERVICE), env=env, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            log = JsonLog(process.stdout)
            grpc_port = await log.port("grpc_port")
            await log.wait_for(lambda line: line["message"] == "serving")
            async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                process.send_signal(signal.SIGUSR1)
                await log.wait_for(lambda line: line["message"] == "not serving: drained")
                drained = await health_of(channel, CATALOG)
                # Out of rotation, not out of service: a call that still arrives is answered.
                reply = await catalog_grpc.CatalogServiceStub(channel).GetProduct(
                    catalog.GetProductRequest(sku="SKU-9"), timeout=30
                )
                process.send_signal(signal.SIGUSR2)
                await log.wait_for(lambda line: line["message"] == "serving")
                undrained = await health_of(channel, CATALOG)
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                exit_code = await process.wait()
            return [drained, undrained], reply.product.sku, exit_code
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()

    assert asyncio.run(scenario()) == ([NOT_SERVING, SERVING], "SKU-9", 0)
