"""`shop order`, `shop status`'s sagas and `shop bench orders` against a real stack: an
order placed through the gateway and confirmed by the saga, then read back as its
timeline, counted by status, and a tiny benchmark run (no figure is judged: the machine is
shared; only that the run measured confirmed orders and wrote every field)."""

from __future__ import annotations

import datetime
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoptools.bench import orders as bench_orders
from shoptools.bench.reads import bench_policy
from shoptools.mesh.jwt import mint_token
from shoptools.stack.postgres import Postgres
from shoptools.topology import Topology

from .harness import ROOT, isolated_topology, shop

CONFIRM_WAIT_S = 120.0  # a bound, not a measurement: the saga has five steps to run


@pytest.fixture(scope="module")
def stack() -> Iterator[Topology]:
    """Every service, with the gateway's rate limits lifted as the benchmark asks."""
    with isolated_topology() as topology:
        policy = bench_policy(ROOT / "mesh" / "policy.yaml", topology.state_dir)
        try:
            up = shop(
                topology, "up", "--base-port", str(topology.base_port), "--policy", str(policy)
            )
            assert up.returncode == 0, up.stdout + up.stderr
            yield topology
        finally:
            shop(topology, "down")
            Postgres(topology).stop()


def call(topology: Topology, path: str, body: dict[str, Any] | None, token: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{topology.gateway_port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


@pytest.fixture(scope="module")
def confirmed_order(stack: Topology) -> str:
    admin = mint_token(stack.pki_dir, "admin", "admin", datetime.timedelta(minutes=10))
    customer = mint_token(stack.pki_dir, "alice", "customer", datetime.timedelta(minutes=10))
    sku = "BK-BIRDS-EUROPE"
    restock = {"idempotencyKey": str(uuid.uuid4()), "delta": 10, "reason": "test"}
    call(stack, f"/admin/v1/stock/{sku}:adjust", restock, admin)
    body = json.loads(bench_orders.order_bodies([sku])[0].replace("{key}", str(uuid.uuid4())))
    order_id: str = call(stack, "/v1/orders", body, customer)["order"]["order_id"]
    deadline = time.monotonic() + CONFIRM_WAIT_S
    while call(stack, f"/v1/orders/{order_id}", None, admin)["order"]["status"] != (
        "ORDER_STATUS_CONFIRMED"
    ):
        assert time.monotonic() < deadline, f"order {order_id} was not confirmed"
        time.sleep(0.2)
    return order_id


def test_shop_order_shows_the_saga_and_the_events_across_streams(
    stack: Topology, confirmed_order: str
) -> None:
    expected = {"orders.order.placed", "payments.payment.captured", "orders.order.confirmed"}
    deadline = time.monotonic() + CONFIRM_WAIT_S
    while True:  # audit records the events as it consumes them, a little after the saga
        as_json = shop(stack, "order", confirmed_order, "--json")
        assert as_json.returncode == 0, as_json.stdout + as_json.stderr
        shown = json.loads(as_json.stdout)
        subjects = {e["nats_subject"] for e in shown["events"]}
        if expected <= subjects or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    text = shop(stack, "order", confirmed_order)

    assert expected <= subjects, shown["events"]
    assert {"ORDERS", "PAYMENTS", "INVENTORY", "SHIPPING"} <= {e["stream"] for e in shown["events"]}
    assert [s["outcome"] for s in shown["steps"]] == ["SUCCEEDED"] * 5
    assert all(s["duration_ms"] is not None for s in shown["steps"])
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"Order {confirmed_order}  CONFIRMED" in text.stdout
    for step in ("authorize payment", "reserve stock", "capture payment", "orders.order.confirmed"):
        assert step in text.stdout


def test_shop_order_says_so_for_an_unknown_order(stack: Topology) -> None:
    unknown = str(uuid.uuid4())

    result = shop(stack, "order", unknown)

    assert result.returncode == 1
    assert f"No order {unknown}." in result.stdout


def test_shop_status_counts_the_sagas_and_the_consumers_lag(
    stack: Topology, confirmed_order: str
) -> None:
    result = shop(stack, "status", "--json")

    report = json.loads(result.stdout)
    assert report["sagas"]["totals"]["started"] >= 1
    assert report["sagas"]["totals"]["completed"] >= 1
    consumers = {(c["stream"], c["consumer"]) for c in report["consumers"]}
    assert ("ORDERS", "audit-orders") in consumers
    assert "Order sagas since" in shop(stack, "status").stdout


def test_a_tiny_orders_benchmark_confirms_orders_and_writes_every_figure(
    stack: Topology, tmp_path: Path
) -> None:
    results = tmp_path / "orders.json"

    run = shop(
        stack,
        "bench",
        "orders",
        "--duration",
        "5",
        "--warmup",
        "1",
        "--concurrency",
        "4",
        "--json",
        str(results),
    )

    assert run.returncode == 0, run.stdout + run.stderr
    document = json.loads(results.read_text())
    phase = document["phases"][0]
    assert phase["confirmed"] > 0
    assert f"{phase['confirmed']} confirmed" in run.stdout
    assert set(phase["cpu_share"]) == set(bench_orders.KINDS)
    assert phase["cpu_us_per_order_by_service"]["orders"] > 0
    for figures in ("place_ms", "to_confirmed_ms", "event_lag_ms"):
        assert phase[figures]["p99"] is not None
    blocks = document["ceiling"]["blocks_us"]
    assert all(blocks[name] > 0 for name in ("grpc_call_us", "envoy_hop_us", "delivery_us"))
    assert document["ceiling"]["orders_per_s"] > 0
    assert document["ceiling"]["achieved_ratio"] > 0
    assert "Achieved / ceiling" in run.stdout
