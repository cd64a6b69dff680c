"""The calls `shop up` prints (the README shows the same) work as printed: grpcurl lists
the catalog's services and calls GetProduct by reflection alone, and calls the mesh as a
client sidecar's identity."""

from __future__ import annotations

import json
import subprocess

from .harness import ROOT, Stack


def printed_grpcurl_calls(stack: Stack) -> list[str]:
    return [line.strip() for line in stack.output.splitlines() if "grpcurl " in line]


def printed_sku(line: str) -> str:
    request = line.split("-d '", 1)[1].split("'", 1)[0]
    return str(json.loads(request)["sku"])


def run(line: str) -> str:
    result = subprocess.run(
        ["bash", "-c", line], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
    return result.stdout


def test_grpcurl_lists_the_services_and_gets_a_product_by_reflection(stack: Stack) -> None:
    listing, get, _ = printed_grpcurl_calls(stack)

    assert "-protoset" not in listing + get  # reflection alone describes the API
    assert set(run(listing).split()) == {
        "shop.catalog.v1.CatalogService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert json.loads(run(get))["product"]["sku"] == printed_sku(get)


def test_the_printed_call_through_a_client_sidecar_reaches_the_catalog_as_orders(
    stack: Stack,
) -> None:
    *_, through_the_mesh = printed_grpcurl_calls(stack)
    orders = stack.client("orders")
    assert f"127.0.0.1:{orders.outbound_port}" in through_the_mesh
    before = stack.envoy_stats(orders).get("cluster.catalog.upstream_rq_completed", 0)

    product = json.loads(run(through_the_mesh))["product"]

    assert product["sku"] == printed_sku(through_the_mesh)
    assert stack.envoy_stats(orders)["cluster.catalog.upstream_rq_completed"] == before + 1
