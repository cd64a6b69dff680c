"""Dependency faults through the gateway, on a real stack of its own: while the catalog's
database refuses connections, clients get 503 (never 500) and the instance leaves rotation
and comes back by itself; while a lock holds every pooled connection, the calls that cannot
get one are shed with 429 and the held ones time out with 504 (never 500)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import psycopg
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shoptools.stack import runfile

from .harness import ROOT, Stack, running_stack, wait_until

SKU = "KIT-CHEF-KNIFE-20"  # from the catalog's seed
POOL_SIZE = 10  # the chassis default (SHOP_DB_POOL_SIZE)


@pytest.fixture(scope="module")
def faulty_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of its own, so these faults cannot linger in other tests' stack, with the
    gateway's rate limits lifted: a 429 here can only come from the service."""
    policy = yaml.safe_load((ROOT / "mesh" / "policy.yaml").read_text())
    unlimited = {"max_tokens": 1_000_000, "tokens_per_fill": 1_000_000, "fill_interval": "1s"}
    for bucket in ("per_customer", "per_address", "overall"):
        policy["gateway"]["rate_limit"][bucket] = unlimited
    path = tmp_path_factory.mktemp("faults") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    with running_stack(services={"catalog": 1}, policy=path) as started:
        yield started


@contextlib.contextmanager
def superuser(stack: Stack, database: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(
        host=str(stack.topology.postgres_dir),
        port=stack.topology.postgres_port,
        user="postgres",
        dbname=database,
        autocommit=True,
    ) as conn:
        yield conn


def get_product(stack: Stack, timeout_s: float = 30) -> int:
    reply = httpx.get(f"{stack.gateway}/v1/products/{SKU}", timeout=timeout_s)
    return reply.status_code


def catalog_health(stack: Stack) -> int:
    port = stack.instance("catalog-1").app_port
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
    return int(reply.status)


def catalog_process(stack: Stack) -> tuple[int | None, int]:
    state = runfile.load(stack.topology.run_file)
    assert state is not None
    found = next(c for c in state.components if c.name == "catalog-1")
    return found.pid, found.restarts


def test_a_database_outage_answers_503_never_500_and_heals_without_a_restart(
    faulty_stack: Stack,
) -> None:
    stack = faulty_stack
    assert get_product(stack) == 200
    process_before = catalog_process(stack)
    codes: list[int] = []

    def seen(code: int) -> int:
        codes.append(code)
        return code

    with superuser(stack, "postgres") as admin:
        admin.execute("ALTER DATABASE catalog ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'catalog'"
        )
        try:
            wait_until(lambda: seen(get_product(stack)) == 503, "a 503 through the gateway")
            wait_until(
                lambda: catalog_health(stack) == health_pb2.HealthCheckResponse.NOT_SERVING,
                "catalog-1 out of rotation",
            )
            codes.append(get_product(stack))
            status = json.loads(stack.shop("status", "--json").stdout)
        finally:
            admin.execute("ALTER DATABASE catalog ALLOW_CONNECTIONS true")

    wait_until(
        lambda: catalog_health(stack) == health_pb2.HealthCheckResponse.SERVING,
        "catalog-1 back in rotation",
    )
    wait_until(lambda: seen(get_product(stack)) == 200, "a 200 through the gateway again")
    assert 500 not in codes
    assert set(codes) <= {200, 503}
    assert catalog_process(stack) == process_before  # healed, not restarted
    [catalog_1] = [c for c in status["components"] if c["name"] == "catalog-1"]
    assert catalog_1["signals"]["not_serving_because"] == ["database"]  # what shop status says


def test_a_saturated_pool_sheds_with_429_and_held_calls_time_out_with_504(
    faulty_stack: Stack,
) -> None:
    stack = faulty_stack
    assert get_product(stack) == 200
    with superuser(stack, "catalog") as admin, admin.transaction():
        # Every read of a product now waits for this lock, holding its pooled connection.
        admin.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(max_workers=3 * POOL_SIZE) as pool:
            codes = list(pool.map(lambda _: get_product(stack), range(3 * POOL_SIZE)))

    assert 500 not in codes
    assert 429 in codes  # shed at once: no connection was free
    assert 504 in codes  # the ones holding a connection ran out of time behind the lock
    assert set(codes) <= {429, 503, 504}
    wait_until(lambda: get_product(stack) == 200, "a 200 once the lock is gone")
