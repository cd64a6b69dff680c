"""Real Envoys from rendered configs, in front of a fake catalog app, for traffic tests.

The fake app stands in for the catalog service; the mesh is what is under test. Every
process and server started here is stopped by `Mesh.stop`, which the fixture always runs.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
import httpx
from grpc_health.v1 import health_pb2

from shop.catalog.v1 import catalog_service_pb2 as catalog_pb2
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shop.catalog.v1 import product_pb2
from shoptools.mesh.envoy import envoy_binary
from shoptools.mesh.policy import GATEWAY, MeshPolicy
from shoptools.mesh.render import write_configs
from shoptools.mesh.sidecar import Fault
from shoptools.topology import Instance, Topology

T = TypeVar("T")
CATALOG = "shop.catalog.v1.CatalogService"
READY_TIMEOUT_S = 20.0


class FakeCatalog(catalog_grpc.CatalogServiceServicer):
    """Answers with products named after the instance, and remembers what it was sent."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.calls: list[dict[str, str]] = []  # invocation metadata of each call

    def _record(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.calls.append({k: str(v) for k, v in context.invocation_metadata() or ()})

    async def GetProduct(
        self,
        request: catalog_pb2.GetProductRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.GetProductResponse:
        self._record(context)
        if request.sku == "SKU-404":
            await context.abort(grpc.StatusCode.NOT_FOUND, "no product SKU-404")
        return catalog_pb2.GetProductResponse(product=self._product(request.sku))

    async def ListProducts(
        self,
        request: catalog_pb2.ListProductsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.ListProductsResponse:
        self._record(context)
        return catalog_pb2.ListProductsResponse(products=[self._product("SKU-1")])

    async def SearchProducts(
        self,
        request: catalog_pb2.SearchProductsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.SearchProductsResponse:
        self._record(context)
        return catalog_pb2.SearchProductsResponse()

    async def UpsertProduct(
        self,
        request: catalog_pb2.UpsertProductRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.UpsertProductResponse:
        self._record(context)
        return catalog_pb2.UpsertProductResponse(product=request.product, created=True)

    def _product(self, sku: str) -> product_pb2.Product:
        return product_pb2.Product(sku=sku, name=f"served by {self.instance}")


async def always_serving(
    request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
) -> health_pb2.HealthCheckResponse:
    """gRPC health Check: the fake app is always SERVING (the mesh injects the faults)."""
    if request.service not in ("", CATALOG):
        await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service}")
    return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


HEALTH = grpc.method_handlers_generic_handler(
    "grpc.health.v1.Health",
    {
        "Check": grpc.unary_unary_rpc_method_handler(
            always_serving,
            request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
        )
    },
)


class AppServers:
    """grpc.aio servers on an event loop of their own, so tests can stay synchronous."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._servers: list[grpc.aio.Server] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def start_catalog(self, instance: Instance) -> FakeCatalog:
        app = FakeCatalog(instance.name)

        async def start() -> None:
            server = grpc.aio.server()
            catalog_grpc.add_CatalogServiceServicer_to_server(app, server)
            server.add_generic_rpc_handlers((HEALTH,))
            server.add_insecure_port(f"127.0.0.1:{instance.app_port}")
            await server.start()
            self._servers.append(server)

        self.run(start())
        return app

    def close(self) -> None:
        async def stop_all() -> None:
            await asyncio.gather(*(s.stop(grace=None) for s in self._servers))

        try:
            self.run(stop_all())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()


@dataclass
class Mesh:
    """A running mesh: fake catalog apps, their sidecars, client sidecars, the gateway."""

    topology: Topology
    policy: MeshPolicy
    apps: dict[str, FakeCatalog] = field(default_factory=dict)
    envoys: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _servers: AppServers = field(default_factory=AppServers)

    def start(self, faults: dict[str, list[Fault]] | None = None, *, gateway: bool = False) -> None:
        configs = write_configs(self.topology, self.policy, faults)
        for instance in self.topology.instances():
            self.apps[instance.name] = self._servers.start_catalog(instance)
        admins = {i.name: i.admin_port for i in self.all_sidecars()}
        if gateway:
            admins[GATEWAY] = self.topology.gateway_admin_port
        self.topology.log_dir.mkdir(parents=True, exist_ok=True)
        for name in admins:
            with (self.topology.log_dir / f"{name}.log").open("wb") as log:
                self.envoys[name] = subprocess.Popen(
                    [
                        str(envoy_binary()),
                        "-c",
                        str(configs[name]),
                        "--disable-hot-restart",
                        "--concurrency",
                        "1",
                        "--log-level",
                        "warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for name, port in admins.items():
            self._wait(name, functools.partial(self._ready, port))
            # Callers only route to instances their health checks have seen serving.
            self._wait(name, functools.partial(self._all_hosts_healthy, port))
            # Envoy hands health changes to its worker with the next round of checks: wait
            # for one more round, so the worker routes to every instance too.
            before = self._health_checks_passed(name)
            self._wait(name, functools.partial(self._checked_again, name, before))

    def _ready(self, admin_port: int) -> bool:
        return _admin(admin_port, "/ready").status_code == 200

    def _checked_again(self, name: str, before: dict[str, int]) -> bool:
        return all(
            passed >= before[svc] + self.topology.services[svc]
            for svc, passed in self._health_checks_passed(name).items()
        )

    def _health_checks_passed(self, name: str) -> dict[str, int]:
        """Successful health checks so far, per upstream service this Envoy has."""
        stats = self.stats(name)
        return {
            svc: stats[f"cluster.{svc}.health_check.success"]
            for svc in self.topology.services
            if f"cluster.{svc}.health_check.success" in stats
        }

    def all_sidecars(self) -> list[Instance]:
        return [*self.topology.instances(), *self.topology.client_sidecars()]

    def client(self, identity: str) -> Instance:
        return next(c for c in self.topology.client_sidecars() if c.service == identity)

    def stats(self, name: str) -> dict[str, int]:
        port = (
            self.topology.gateway_admin_port
            if name == GATEWAY
            else next(i.admin_port for i in self.all_sidecars() if i.name == name)
        )
        lines = _admin(port, "/stats").text.splitlines()
        return {
            key: int(value)
            for key, _, value in (line.partition(": ") for line in lines)
            if value.isdigit()
        }

    def log(self, name: str) -> str:
        return (self.topology.log_dir / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.envoys.values():
            process.terminate()
        for process in self.envoys.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._servers.close()

    def _all_hosts_healthy(self, admin_port: int) -> bool:
        lines = _admin(admin_port, "/clusters").text.splitlines()
        flags = [line.rsplit("::", 1)[1] for line in lines if "::health_flags::" in line]
        return bool(flags) and all(f == "healthy" for f in flags)

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.envoys[name].poll() is not None:
                raise RuntimeError(f"envoy {name} exited:\n{self.log(name)}")
            try:
                if ready():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"envoy {name} not ready in time:\n{self.log(name)}")


def _admin(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)
