"""Real calls through real sidecars: mutual TLS, access policy, retries, ejection, timeouts."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from shop.catalog.v1 import catalog_service_pb2 as catalog_pb2
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shoptools.mesh.policy import parse_policy
from shoptools.mesh.sidecar import Fault

from .conftest import TEST_POLICY, StartMesh, mesh_factory
from .harness import Mesh


def catalog_stub(port: int) -> tuple[grpc.Channel, catalog_grpc.CatalogServiceStub]:
    """Dial like a service does: plaintext to its sidecar's outbound, authority "catalog"."""
    channel = grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.default_authority", "catalog")]
    )
    return channel, catalog_grpc.CatalogServiceStub(channel)


def get_product(mesh: Mesh, caller: str) -> catalog_pb2.GetProductResponse:
    channel, stub = catalog_stub(mesh.client(caller).outbound_port)
    with channel:
        response: catalog_pb2.GetProductResponse = stub.GetProduct(
            catalog_pb2.GetProductRequest(sku="SKU-1"), timeout=10
        )
    return response


def list_products(mesh: Mesh, caller: str) -> catalog_pb2.ListProductsResponse:
    channel, stub = catalog_stub(mesh.client(caller).outbound_port)
    with channel:
        response: catalog_pb2.ListProductsResponse = stub.ListProducts(
            catalog_pb2.ListProductsRequest(), timeout=10
        )
    return response


@pytest.fixture(scope="module")
def catalog_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One catalog instance; callers the policy allows (orders, shipping) and one it does
    not name (tester)."""
    with mesh_factory(tmp_path_factory.mktemp("mesh"), parse_policy(TEST_POLICY)) as start:
        yield start(services={"catalog": 1}, clients=("orders", "shipping", "tester"))


def test_an_allowed_caller_reaches_the_app_which_sees_its_verified_identity(
    catalog_mesh: Mesh,
) -> None:
    response = get_product(catalog_mesh, "orders")

    assert response.product.name == "served by catalog-1"
    forwarded = catalog_mesh.apps["catalog-1"].calls[-1]["x-forwarded-client-cert"]
    assert "URI=spiffe://shop.local/ns/shop/sa/orders" in forwarded


def test_a_caller_the_policy_does_not_name_is_denied(catalog_mesh: Mesh) -> None:
    calls_before = len(catalog_mesh.apps["catalog-1"].calls)

    with pytest.raises(grpc.RpcError) as denied:
        get_product(catalog_mesh, "tester")

    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.details() == "RBAC: access denied"
    assert len(catalog_mesh.apps["catalog-1"].calls) == calls_before


def test_access_is_granted_per_method(catalog_mesh: Mesh) -> None:
    assert get_product(catalog_mesh, "shipping").product.sku == "SKU-1"
    with pytest.raises(grpc.RpcError) as denied:
        list_products(catalog_mesh, "shipping")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert list_products(catalog_mesh, "orders").products


def test_plaintext_to_an_inbound_port_is_refused(catalog_mesh: Mesh) -> None:
    inbound = catalog_mesh.topology.instances("catalog")[0].inbound_port
    calls_before = len(catalog_mesh.apps["catalog-1"].calls)
    channel, stub = catalog_stub(inbound)

    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.GetProduct(catalog_pb2.GetProductRequest(sku="SKU-1"), timeout=5)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(catalog_mesh.apps["catalog-1"].calls) == calls_before


def test_retries_and_ejection_hide_a_failing_instance(start_mesh: StartMesh) -> None:
    mesh = start_mesh(
        services={"catalog": 2},
        clients=("orders",),
        faults={"catalog-2": [Fault(abort_grpc_status=grpc.StatusCode.UNAVAILABLE.value[0])]},
    )

    served = {get_product(mesh, "orders").product.name for _ in range(20)}

    assert served == {"served by catalog-1"}
    caller = mesh.stats("orders-1")
    assert caller["cluster.catalog.upstream_rq_retry_success"] >= 1
    assert caller["cluster.catalog.outlier_detection.ejections_enforced_total"] >= 1
    assert mesh.stats("catalog-2")["http.inbound.fault.aborts_injected"] >= 1


def test_a_slow_instance_fails_the_call_at_the_route_timeout_with_deadline_exceeded(
    start_mesh: StartMesh,
) -> None:
    mesh = start_mesh(
        services={"catalog": 1}, clients=("orders",), faults={"catalog-1": [Fault(delay_s=30)]}
    )

    with pytest.raises(grpc.RpcError) as timed_out:
        get_product(mesh, "orders")  # the client's own deadline (10 s) is far away

    assert timed_out.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert timed_out.value.details() == "upstream request timeout"
    caller = mesh.stats("orders-1")
    assert caller["cluster.catalog.upstream_rq_per_try_timeout"] >= 1
    assert caller["cluster.catalog.upstream_rq_timeout"] == 1
