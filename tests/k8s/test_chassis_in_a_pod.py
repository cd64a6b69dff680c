"""What the chassis does differently in a pod, where Linkerd is the mesh: it listens on
every address (the proxy forwards to the pod's address, not loopback), and it dials each
callee at its own Service instead of one sidecar listener."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from chassis import clients
from chassis.config import ServiceSettings
from chassis.server import Server

# Another loopback address: a server bound to 127.0.0.1 alone does not answer on it, as a
# pod's loopback-only server does not answer on the pod's address.
OTHER_ADDRESS = "127.0.0.2"


def _settings(**values: object) -> ServiceSettings:
    return ServiceSettings(service="catalog", database_url="postgresql://unused", **values)  # type: ignore[arg-type]


async def _health(target: str, authority: str | None = None) -> grpc.StatusCode:
    options = [("grpc.default_authority", authority)] if authority else []
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=3
            )
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def _reachable_on_another_address(listen_host: str | None) -> grpc.StatusCode:
    settings = _settings(grpc_port=0, **({"listen_host": listen_host} if listen_host else {}))
    server = Server(settings, servicers=[])
    await server.start()
    try:
        return await _health(f"{OTHER_ADDRESS}:{server.port}")
    finally:
        await server.stop()


def test_listen_host_opens_the_server_beyond_loopback() -> None:
    # Without a migration gate the server serves at once: OK means it was reached.
    assert asyncio.run(_reachable_on_another_address("0.0.0.0")) == grpc.StatusCode.OK
    assert asyncio.run(_reachable_on_another_address(None)) == grpc.StatusCode.UNAVAILABLE


def test_a_service_template_in_mesh_outbound_dials_the_callee_itself() -> None:
    async def call() -> None:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            # "{service}:port" with the callee "localhost": reaches it only if formatted.
            settings = _settings(mesh_outbound=f"{{service}}:{port}")
            async with clients.channel(settings, "localhost") as channel:
                await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=3
                )
        finally:
            await server.stop(None)

    asyncio.run(call())
