"""Health probes: an HTTP endpoint answering 200, a gRPC server reporting SERVING."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def http_get(url: str, timeout_s: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, OSError):
        return None


async def http_ok_async(url: str, timeout_s: float = 1.0) -> bool:
    return await asyncio.to_thread(http_ok, url, timeout_s)


async def grpc_serving(port: int, timeout_s: float = 1.0) -> bool:
    """The server's overall health ("" service) is SERVING."""
    return await grpc_health(port, timeout_s) == "SERVING"


async def grpc_health(port: int, timeout_s: float = 1.0) -> str:
    """The server's overall health ("" service): SERVING, NOT_SERVING, ..., or UNREACHABLE."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.aio.AioRpcError:
            return "UNREACHABLE"
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
