"""Real HTTP through the real gateway: REST transcoding, tokens, roles, rate limiting."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shoptools.mesh.jwt import mint_token
from shoptools.mesh.policy import parse_policy

from .conftest import TEST_POLICY, StartMesh, mesh_factory
from .harness import Mesh

PRODUCT = {
    "idempotency_key": "6f1f5b9e-5d43-4d0e-9a57-0c8f6a1d2b3c",
    "product": {
        "sku": "SKU-9",
        "name": "Nine",
        "price": {"currency_code": "EUR", "amount_minor": 999},
    },
}


@pytest.fixture(scope="module")
def gateway_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with mesh_factory(tmp_path_factory.mktemp("gateway"), parse_policy(TEST_POLICY)) as start:
        yield start(services={"catalog": 1}, gateway=True)


@pytest.fixture
def api(gateway_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{gateway_mesh.topology.gateway_port}") as c:
        yield c


def bearer(mesh: Mesh, role: str, subject: str = "someone") -> dict[str, str]:
    token = mint_token(mesh.topology.pki_dir, subject, "admin" if role == "admin" else "customer")
    return {"authorization": f"Bearer {token}"}


def test_an_anonymous_rest_call_is_transcoded_to_the_service(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.get("/v1/products/SKU-1", headers={"x-request-id": "req-42"})

    assert response.status_code == 200
    product = response.json()["product"]
    assert product["sku"] == "SKU-1"
    assert product["name"] == "served by catalog-1"
    assert product["weight_grams"] == 0  # proto field names, defaults printed
    assert response.headers["x-request-id"] == "req-42"
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert seen["x-request-id"] == "req-42"
    assert "URI=spiffe://shop.local/ns/shop/sa/gateway" in seen["x-forwarded-client-cert"]


def test_a_grpc_error_becomes_its_http_status(api: httpx.Client) -> None:
    response = api.get("/v1/products/SKU-404")

    assert response.status_code == 404
    assert response.json()["message"] == "no product SKU-404"


def test_an_admin_method_without_a_token_is_unauthenticated(api: httpx.Client) -> None:
    assert api.post("/admin/v1/products", json=PRODUCT).status_code == 401


def test_an_admin_method_with_a_customer_token_is_forbidden(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.post(
        "/admin/v1/products", json=PRODUCT, headers=bearer(gateway_mesh, "customer")
    )
    assert response.status_code == 403


def test_an_admin_token_reaches_the_service_with_its_verified_claims(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    response = api.post(
        "/admin/v1/products", json=PRODUCT, headers=bearer(gateway_mesh, "admin", "ada")
    )

    assert response.status_code == 200
    assert response.json() == {"product": response.json()["product"], "created": True}
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert (seen["x-shop-subject"], seen["x-shop-role"]) == ("ada", "admin")
    assert "authorization" not in seen


def test_clients_cannot_forge_the_verified_claims(gateway_mesh: Mesh, api: httpx.Client) -> None:
    response = api.get(
        "/v1/products/SKU-1", headers={"x-shop-subject": "ada", "x-shop-role": "admin"}
    )

    assert response.status_code == 200
    seen = gateway_mesh.apps["catalog-1"].calls[-1]
    assert "x-shop-subject" not in seen
    assert "x-shop-role" not in seen


def test_a_token_from_another_issuer_is_rejected(gateway_mesh: Mesh, api: httpx.Client) -> None:
    token = mint_token(gateway_mesh.topology.pki_dir, "eve", "admin", issuer="https://evil.example")
    response = api.get("/v1/products/SKU-1", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_malformed_json_is_a_bad_request(gateway_mesh: Mesh, api: httpx.Client) -> None:
    calls_before = len(gateway_mesh.apps["catalog-1"].calls)
    response = api.post(
        "/admin/v1/products",
        content=b'{"product": {"sku": ',
        headers={**bearer(gateway_mesh, "admin"), "content-type": "application/json"},
    )

    assert response.status_code == 400
    assert len(gateway_mesh.apps["catalog-1"].calls) == calls_before


def test_a_service_that_is_not_running_is_unavailable_not_unknown(
    gateway_mesh: Mesh, api: httpx.Client
) -> None:
    assert "orders" not in gateway_mesh.topology.services
    assert api.get("/v1/orders").status_code == 401  # the token is checked before routing
    response = api.get("/v1/orders", headers=bearer(gateway_mesh, "customer"))
    assert response.status_code == 503
    assert response.text == "no healthy upstream"


def test_unknown_paths_and_internal_methods_are_not_served(api: httpx.Client) -> None:
    assert api.get("/v1/nothing-here").status_code == 404
    internal = api.post(
        "/shop.inventory.v1.InventoryService/ReserveStock",
        content=b"\x00\x00\x00\x00\x00",
        headers={"content-type": "application/grpc"},
    )
    assert internal.headers["grpc-status"] == "7"  # PERMISSION_DENIED


def test_the_rate_limit_answers_429_once_the_bucket_is_empty(start_mesh: StartMesh) -> None:
    tiny_bucket = TEST_POLICY.replace(
        "rate_limit: {max_tokens: 1000, tokens_per_fill: 1000, fill_interval: 1s}",
        "rate_limit: {max_tokens: 3, tokens_per_fill: 1, fill_interval: 1h}",
    )
    mesh = start_mesh(services={"catalog": 1}, gateway=True, policy=parse_policy(tiny_bucket))

    with httpx.Client(base_url=f"http://127.0.0.1:{mesh.topology.gateway_port}") as api:
        statuses = [api.get("/v1/products/SKU-1").status_code for _ in range(5)]
        limited = api.get("/v1/products/SKU-1")

    assert statuses == [200, 200, 200, 429, 429]
    assert limited.headers["x-local-rate-limit"] == "true"
