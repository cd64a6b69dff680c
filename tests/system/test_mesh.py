"""Calls between services through the real sidecars: mutual TLS, the access policy, and
taking an instance out of rotation with `shop drain`."""

from __future__ import annotations

import json

import grpc
import pytest

from shop.catalog.v1 import catalog_service_pb2 as catalog_pb2
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shoptools.stack import runfile
from shoptools.topology import Instance

from .harness import Stack

CALLS = 20


def some_sku(stack: Stack) -> str:
    channel, stub = stack.catalog("orders")
    with channel:
        listed = stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=1), timeout=30)
    return str(listed.products[0].sku)


def get_products(stack: Stack, caller: str, sku: str, times: int = 1) -> list[str]:
    channel, stub = stack.catalog(caller)
    with channel:
        return [
            stub.GetProduct(catalog_pb2.GetProductRequest(sku=sku), timeout=30).product.sku
            for _ in range(times)
        ]


def handled_by_instance(stack: Stack) -> dict[str, int]:
    return {i.name: stack.handled(i.name, "GetProduct") for i in stack.topology.instances()}


def test_the_client_sidecars_run_and_status_shows_where_they_listen(stack: Stack) -> None:
    result = stack.shop("status", "--json")

    assert result.returncode == 0, result.stdout + result.stderr
    assert runfile_state(stack).clients == ["orders"]
    by_name = {c["name"]: c for c in json.loads(result.stdout)["components"]}
    sidecar = by_name["orders-1-sidecar"]
    assert sidecar["healthy"] is True
    assert sidecar["address"] == f"127.0.0.1:{stack.client('orders').outbound_port}"


def test_plaintext_to_a_sidecars_inbound_port_is_refused(stack: Stack) -> None:
    catalog_1 = stack.instance("catalog-1")
    refused_before = stack.envoy_stats(catalog_1).get(_tls_errors(catalog_1), 0)
    calls_before = stack.handled("catalog-1", "GetProduct")

    with (
        grpc.insecure_channel(f"127.0.0.1:{catalog_1.inbound_port}") as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        catalog_grpc.CatalogServiceStub(channel).GetProduct(
            catalog_pb2.GetProductRequest(sku="ANY-SKU"), timeout=30
        )

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert stack.envoy_stats(catalog_1)[_tls_errors(catalog_1)] > refused_before
    assert stack.handled("catalog-1", "GetProduct") == calls_before


def _tls_errors(instance: Instance) -> str:
    return f"listener.127.0.0.1_{instance.inbound_port}.ssl.connection_error"


def test_only_callers_the_policy_names_may_call_a_method(stack: Stack) -> None:
    sku = some_sku(stack)
    before = sum(handled_by_instance(stack).values())

    assert get_products(stack, "orders", sku) == [sku]
    with pytest.raises(grpc.RpcError) as denied:  # notifications-1's own sidecar: not allowed
        get_products(stack, "notifications", sku)

    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.details() == "RBAC: access denied"
    assert sum(handled_by_instance(stack).values()) == before + 1  # orders' call only


def test_a_drained_instance_is_not_serving_and_gets_no_traffic_until_undrained(
    stack: Stack,
) -> None:
    orders = stack.client("orders")
    sku = some_sku(stack)
    pid = runfile_component(stack, "catalog-2").pid
    stack.routes_as_checked(orders, "catalog", {"catalog-1": "healthy", "catalog-2": "healthy"})

    drained = stack.shop("drain", "catalog-2")
    try:
        assert drained.returncode == 0, drained.stdout + drained.stderr
        stack.routes_as_checked(
            orders, "catalog", {"catalog-1": "healthy", "catalog-2": "/failed_active_hc"}
        )
        before = handled_by_instance(stack)
        assert get_products(stack, "orders", sku, CALLS) == [sku] * CALLS
        during = handled_by_instance(stack)
        status = json.loads(stack.shop("status", "--json").stdout)
    finally:
        undrained = stack.shop("undrain", "catalog-2")
    assert undrained.returncode == 0, undrained.stdout + undrained.stderr
    stack.routes_as_checked(orders, "catalog", {"catalog-1": "healthy", "catalog-2": "healthy"})
    assert get_products(stack, "orders", sku, CALLS) == [sku] * CALLS
    after = handled_by_instance(stack)

    assert during["catalog-1"] - before["catalog-1"] == CALLS
    assert during["catalog-2"] == before["catalog-2"]
    assert after["catalog-2"] > during["catalog-2"]  # back in rotation
    assert after["catalog-1"] > during["catalog-1"]
    # Drained is not crashed: the supervisor left the same process running.
    catalog_2 = next(c for c in status["components"] if c["name"] == "catalog-2")
    assert (catalog_2["grpc_health"], catalog_2["pid"], catalog_2["restarts"]) == (
        "NOT_SERVING",
        pid,
        0,
    )
    assert runfile_component(stack, "catalog-2").pid == pid
    messages = stack.log_messages("catalog-2")
    drained_at = messages.index("not serving: drained")
    assert "serving" in messages[drained_at:]  # undrained


def runfile_state(stack: Stack) -> runfile.RunState:
    state = runfile.load(stack.topology.run_file)
    assert state is not None
    return state


def runfile_component(stack: Stack, name: str) -> runfile.Component:
    return runfile_state(stack).component(name)
