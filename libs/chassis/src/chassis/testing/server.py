"""A service's real instance in the test process: its wiring, the chassis interceptors, the
migration gate, its on_start hooks, its workers and readiness, reached through a plain
grpc.aio channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chassis import context
from chassis.app import Instance, Runtime, ServiceApp


@asynccontextmanager
async def serving(app: ServiceApp, runtime: Runtime) -> AsyncIterator[grpc.aio.Channel]:
    """The started instance, once SERVING, and a channel to it; stopped on exit."""
    context.set_service(runtime.settings.service)  # as serve() does for a process
    instance = Instance(app, runtime)
    startup = await instance.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{instance.server.port}") as channel:
            async with asyncio.timeout(60):
                await until_serving(channel, startup)
            yield channel
    finally:
        await instance.stop()


async def health(channel: grpc.aio.Channel) -> int:
    """The instance's overall health status (SERVING, NOT_SERVING)."""
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest(service=""))
    return int(reply.status)


async def until_serving(
    channel: grpc.aio.Channel, startup: asyncio.Task[None] | None = None, *, serving: bool = True
) -> None:
    """Returns once the health is SERVING (or, with serving=False, NOT_SERVING)."""
    wanted = health_pb2.HealthCheckResponse.SERVING
    if not serving:
        wanted = health_pb2.HealthCheckResponse.NOT_SERVING
    while True:
        if startup is not None and startup.done():
            startup.result()  # raises what on_start raised
        if await health(channel) == wanted:
            return
        await asyncio.sleep(0.02)
