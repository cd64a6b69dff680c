from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shoptools.mesh.policy import MeshPolicy, parse_policy
from shoptools.mesh.sidecar import Fault
from shoptools.topology import Topology

from .harness import Mesh

# Small numbers so failures, ejections and timeouts show within a few calls.
TEST_POLICY = """
version: 1
defaults:
  timeout: 1s
  retries:
    attempts: 3
    # Two tries and their backoffs (at most 800 + 50 ms) end well before the route
    # timeout, three (1200 ms) well after: the route timeout, not a try, ends a slow call.
    per_try_timeout: 400ms
    backoff: {base: 10ms, max: 50ms}
    conditions: [unavailable, reset, connect-failure]
  circuit_breaker:
    {max_connections: 100, max_pending_requests: 100, max_requests: 100, max_retries: 10}
  outlier_detection:
    {consecutive_failures: 2, interval: 1s, base_ejection_time: 30s, max_ejection_percent: 50}
  health_check: {interval: 500ms, timeout: 250ms, unhealthy_threshold: 2, healthy_threshold: 1}
services:
  catalog:
    callers:
      orders: [GetProduct, ListProducts]
      shipping: [GetProduct]
gateway:
  jwt: {issuer: "https://auth.shop.local", audience: shop-api}
  rate_limit:
    per_customer: {max_tokens: 1000, tokens_per_fill: 1000, fill_interval: 1s}
    per_address: {max_tokens: 1000, tokens_per_fill: 1000, fill_interval: 1s}
    overall: {max_tokens: 1000, tokens_per_fill: 1000, fill_interval: 1s}
    tracked_clients: 100
"""

StartMesh = Callable[..., Mesh]


@contextlib.contextmanager
def mesh_factory(state_root: Path, default_policy: MeshPolicy) -> Iterator[StartMesh]:
    """Yields start(services={"catalog": 2}, clients=("orders",), faults=..., gateway=...,
    policy=...) -> a running Mesh; every mesh started is stopped on exit, whatever happens."""
    started: list[Mesh] = []

    def start(
        *,
        services: dict[str, int],
        clients: tuple[str, ...] = (),
        faults: dict[str, list[Fault]] | None = None,
        gateway: bool = False,
        policy: MeshPolicy | None = None,
    ) -> Mesh:
        topology = Topology(
            state_dir=state_root / f"state{len(started)}",
            services=services,
            clients=clients,
        ).with_free_ports()
        mesh = Mesh(topology, policy or default_policy)
        started.append(mesh)
        mesh.start(faults, gateway=gateway)
        return mesh

    try:
        yield start
    finally:
        for mesh in started:
            mesh.stop()


@pytest.fixture
def mesh_policy() -> MeshPolicy:
    return parse_policy(TEST_POLICY)


@pytest.fixture
def start_mesh(tmp_path: Path, mesh_policy: MeshPolicy) -> Iterator[StartMesh]:
    with mesh_factory(tmp_path, mesh_policy) as start:
        yield start
