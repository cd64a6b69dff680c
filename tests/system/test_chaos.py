"""Faults injected with `shop up --fault`, and what the mesh makes of them: retries and
outlier ejection hide a failing instance, route timeouts cut slow calls off, circuit
breakers fail excess calls fast, and the gateway's rate limit answers 429.

The tests run in this order on one stack: the first ejects catalog-2 for the rest.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import grpc
import httpx

from shop.catalog.v1 import catalog_service_pb2 as catalog_pb2

from .conftest import MAX_REQUESTS, RATE_LIMIT_BURST, SEARCH_DELAY_S, SEARCH_TIMEOUT_S
from .harness import Stack, wait_until


def first_sku(stack: Stack) -> str:
    channel, stub = stack.catalog("orders")
    with channel:
        listed = stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=1), timeout=30)
    return str(listed.products[0].sku)


def timed_search(stack: Stack) -> tuple[float, grpc.RpcError | None]:
    """A SearchProducts call through orders' sidecar: how long it took, and its error. The
    caller's own deadline is far beyond the injected delay, so only the mesh can end it
    early."""
    channel, stub = stack.catalog("orders")
    began = time.monotonic()
    try:
        with channel:
            stub.SearchProducts(
                catalog_pb2.SearchProductsRequest(query="guide"), timeout=3 * SEARCH_DELAY_S
            )
    except grpc.RpcError as error:
        return time.monotonic() - began, error
    return time.monotonic() - began, None


def test_retries_and_ejection_hide_an_instance_that_fails_every_call(chaos_stack: Stack) -> None:
    orders = chaos_stack.client("orders")
    # Both instances in rotation as the caller sees them (health checks pass: the fault
    # spares them), so calls do reach the failing one.
    chaos_stack.routes_as_checked(
        orders, "catalog", {"catalog-1": "healthy", "catalog-2": "healthy"}
    )
    sku = first_sku(chaos_stack)
    channel, stub = chaos_stack.catalog("orders")

    with channel:
        replies = [
            stub.GetProduct(catalog_pb2.GetProductRequest(sku=sku), timeout=30) for _ in range(30)
        ]

    assert {reply.product.sku for reply in replies} == {sku}
    caller = chaos_stack.envoy_stats(orders)
    assert caller["cluster.catalog.upstream_rq_retry_success"] >= 1
    assert caller["cluster.catalog.outlier_detection.ejections_enforced_total"] >= 1
    assert caller["cluster.catalog.outlier_detection.ejections_active"] == 1
    assert (
        chaos_stack.envoy_stats(chaos_stack.instance("catalog-2"))[
            "http.inbound.fault.aborts_injected"
        ]
        >= 1
    )
    assert chaos_stack.handled("catalog-2", "GetProduct") == 0  # the fault answers for it


def test_a_slow_call_is_cut_off_at_its_route_timeout(chaos_stack: Stack) -> None:
    orders = chaos_stack.client("orders")
    timeouts_before = chaos_stack.envoy_stats(orders)["cluster.catalog.upstream_rq_timeout"]

    elapsed, error = timed_search(chaos_stack)

    assert error is not None, "the call outlived its route timeout"
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.details() == "upstream request timeout"
    # At the timeout, not before it, and nowhere near the injected delay.
    assert 0.9 <= elapsed / SEARCH_TIMEOUT_S <= 3
    assert elapsed / SEARCH_DELAY_S <= 0.3
    timeouts = chaos_stack.envoy_stats(orders)["cluster.catalog.upstream_rq_timeout"]
    assert timeouts == timeouts_before + 1


def test_the_circuit_breaker_fails_calls_beyond_its_limit_fast(chaos_stack: Stack) -> None:
    orders = chaos_stack.client("orders")
    # max_requests is the limit reached (HTTP/2: one connection, many streams).
    overflow = "cluster.catalog.upstream_rq_active_overflow"
    overflow_before = chaos_stack.envoy_stats(orders)[overflow]

    with ThreadPoolExecutor(max_workers=MAX_REQUESTS) as pool:
        slow: list[Future[tuple[float, grpc.RpcError | None]]] = [
            pool.submit(timed_search, chaos_stack) for _ in range(MAX_REQUESTS)
        ]
        wait_until(
            lambda: (
                chaos_stack.envoy_stats(orders)["cluster.catalog.circuit_breakers.default.rq_open"]
                == 1
            ),
            "the breaker opens with the slow calls in flight",
        )
        excess = [timed_search(chaos_stack) for _ in range(3)]
        held = [future.result() for future in slow]

    for _, error in excess:
        assert error is not None
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert "overflow" in str(error.details())
    for _, error in held:
        assert error is not None
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert max(t for t, _ in excess) * 5 < min(t for t, _ in held)
    assert chaos_stack.envoy_stats(orders)[overflow] >= overflow_before + len(excess)


def test_the_gateway_rate_limit_answers_429_once_the_bucket_is_empty(chaos_stack: Stack) -> None:
    with httpx.Client(base_url=chaos_stack.gateway, timeout=30) as api:
        responses = [api.get("/v1/products", params={"page_size": 1}) for _ in range(5)]

    statuses = [r.status_code for r in responses]
    assert statuses == [200] * RATE_LIMIT_BURST + [429] * (5 - RATE_LIMIT_BURST)
    limited = responses[-1]
    assert limited.headers["x-local-rate-limit"] == "true"
    assert limited.headers["x-request-id"]
