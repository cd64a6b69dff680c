"""The chassis' cost per call stays a small multiple of a bare gRPC call's.

Two server processes answer the same in-memory GetProduct: one bare grpc.aio server, one
with the chassis interceptor chain, configured as a service configures it (JSON access
log lines written to a file, the tracer provider without an exporter). The test drives
the same calls at both and compares the CPU time each server process spent per call.

CPU time, not wall time, and a ratio measured within the test, so neither the machine's
speed nor a neighbour's load sets the result; batches alternate between the two servers
and the best (lowest) of several batches counts for each, since a busy machine only ever
adds time. Calls carry what the mesh always sends (x-request-id, traceparent).
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc.aio
import psutil
import pytest

from shop.catalog.v1 import catalog_service_pb2 as catalog

HERE = Path(__file__).parent
GET_PRODUCT = "/shop.catalog.v1.CatalogService/GetProduct"
METADATA = (
    ("x-request-id", "op-cost"),
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
)
CALLS_PER_BATCH = 1200
IN_FLIGHT = 8
BATCHES = 7  # best of: a busy machine only ever adds time
# The chain measured at about 1.7-1.9x a bare call on a busy 2-core machine, down from
# about 2.6x before issue 8 (where the old chain fails this bound). Raise it only with a
# reason: every service pays this on every call.
MAX_RATIO = 2.3


class CostServer:
    def __init__(self, kind: str, log_file: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "chassis_cost_server.py"), kind, str(log_file)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])},
        )
        assert self.process.stderr is not None
        self.port = int(self.process.stderr.readline())
        self._ps = psutil.Process(self.process.pid)

    def cpu_s(self) -> float:
        times = self._ps.cpu_times()
        return times.user + times.system

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, CostServer]]:
    started: dict[str, CostServer] = {}
    try:
        for kind in ("bare", "chassis"):
            started[kind] = CostServer(kind, tmp_path / f"{kind}.log")
        yield started
    finally:
        for server in started.values():
            server.close()


async def calls(port: int, count: int) -> None:
    request = catalog.GetProductRequest(sku="SKU-1").SerializeToString()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        # Bytes in and out: a cheap client.
        get_product: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            GET_PRODUCT
        )

        async def one_after_another(n: int) -> None:
            for _ in range(n):
                await get_product(request, metadata=METADATA, timeout=10)

        await asyncio.gather(*(one_after_another(count // IN_FLIGHT) for _ in range(IN_FLIGHT)))


def cpu_per_call(server: CostServer) -> float:
    asyncio.run(calls(server.port, IN_FLIGHT * 10))  # connection and first-call costs
    before = server.cpu_s()
    asyncio.run(calls(server.port, CALLS_PER_BATCH))
    return (server.cpu_s() - before) / CALLS_PER_BATCH


def test_the_chassis_costs_at_most_a_small_multiple_of_a_bare_call(
    servers: dict[str, CostServer], tmp_path: Path
) -> None:
    best = {kind: float("inf") for kind in servers}
    for _ in range(BATCHES):
        for kind, server in servers.items():
            best[kind] = min(best[kind], cpu_per_call(server))

    ratio = best["chassis"] / best["bare"]
    assert (tmp_path / "chassis.log").read_text().count('"logger": "chassis.access"') > 0
    assert ratio <= MAX_RATIO, (
        f"a call through the chassis costs {ratio:.2f}x a bare call "
        f"({best['chassis'] * 1e6:.0f} µs vs {best['bare'] * 1e6:.0f} µs of server CPU)"
    )
