"""REST through the real gateway to the real catalog: anonymous reads, tokens and roles,
validation with field-level errors, the contract's whole surface, and x-request-id."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shop.catalog.v1 import product_pb2
from shoptools.mesh.jwt import Role, mint_token

from .harness import Stack, wait_until

PRODUCT_FIELDS = {field.name for field in product_pb2.Product.DESCRIPTOR.fields}


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def token(stack: Stack, role: Role, ttl: datetime.timedelta = datetime.timedelta(hours=1)) -> str:
    subject = {"admin": "ada", "customer": "alice"}[role]
    return mint_token(stack.topology.pki_dir, subject, role, ttl)


def forged_token(stack: Stack) -> str:
    """Claims a valid token would carry, under the real key's id, signed by another key."""
    genuine = token(stack, "admin")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, other_key, "RS256", headers=jwt.get_unverified_header(genuine))


def new_product(sku: str, /, **changes: Any) -> dict[str, Any]:
    product = {
        "sku": sku,
        "name": "System Test Lantern",
        "description": "Made by the system tests.",
        "price": {"currency_code": "EUR", "amount_minor": "1999"},
        "categories": ["outdoor"],
        "weight_grams": 350,
        "image_url": "https://images.shopmesh.example/products/lantern.jpg",
    }
    return {"idempotency_key": str(uuid.uuid4()), "product": product | changes}


def unique_sku() -> str:
    return f"ST-{uuid.uuid4().hex[:10].upper()}"


def test_products_are_listed_fetched_and_searched_anonymously(api: httpx.Client) -> None:
    listed = api.get("/v1/products", params={"page_size": 3})
    assert listed.status_code == 200, listed.text
    products = listed.json()["products"]
    assert len(products) == 3
    assert all(set(p) == PRODUCT_FIELDS for p in products)  # the proto's field names

    sku = products[0]["sku"]
    fetched = api.get(f"/v1/products/{sku}")
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["product"] == products[0]

    word = products[0]["name"].split()[-1]
    found = api.get("/v1/products:search", params={"query": word})
    assert found.status_code == 200, found.text
    assert sku in [p["sku"] for p in found.json()["products"]]


def test_an_unknown_product_is_404_with_the_reason_in_a_json_status(api: httpx.Client) -> None:
    response = api.get("/v1/products/NO-SUCH-SKU")

    assert response.status_code == 404
    status = response.json()
    assert status["code"] == 5  # NOT_FOUND
    assert status["details"][0]["reason"] == "PRODUCT_NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/orders"), ("POST", "/admin/v1/products")],
    ids=["customer", "admin"],
)
def test_a_route_that_needs_a_token_refuses_a_missing_expired_or_forged_one(
    stack: Stack, api: httpx.Client, method: str, path: str
) -> None:
    body = new_product(unique_sku()) if method == "POST" else None
    expired = token(stack, "admin", ttl=-datetime.timedelta(minutes=10))  # beyond clock skew
    attempts = {
        "missing": {},
        "expired": bearer(expired),
        "forged": bearer(forged_token(stack)),
        "garbage": bearer("not.a.jwt"),
    }

    statuses = {
        name: api.request(method, path, json=body, headers=headers).status_code
        for name, headers in attempts.items()
    }

    assert statuses == dict.fromkeys(attempts, 401)


def test_an_admin_route_with_a_customer_token_is_forbidden(stack: Stack, api: httpx.Client) -> None:
    sku = unique_sku()
    response = api.post(
        "/admin/v1/products", json=new_product(sku), headers=bearer(token(stack, "customer"))
    )

    assert response.status_code == 403
    assert api.get(f"/v1/products/{sku}").status_code == 404


def test_an_admin_upserts_a_product_and_reads_show_the_change(
    stack: Stack, api: httpx.Client
) -> None:
    sku = unique_sku()
    admin = bearer(token(stack, "admin"))

    created = api.post("/admin/v1/products", json=new_product(sku), headers=admin)
    changed = api.post(
        "/admin/v1/products", json=new_product(sku, name="Brighter Lantern"), headers=admin
    )
    fetched = api.get(f"/v1/products/{sku}")

    assert created.status_code == 200, created.text
    assert created.json()["created"] is True
    assert changed.status_code == 200, changed.text
    assert changed.json()["created"] is False
    assert fetched.status_code == 200
    product = fetched.json()["product"]
    assert (product["name"], product["version"]) == ("Brighter Lantern", "2")
    assert product["price"] == {"currency_code": "EUR", "amount_minor": "1999"}


def test_a_malformed_body_is_400_and_never_reaches_the_service(
    stack: Stack, api: httpx.Client
) -> None:
    before = sum(stack.handled(i.name, "UpsertProduct") for i in stack.topology.instances())

    response = api.post(
        "/admin/v1/products",
        content=b'{"product": {"sku": ',
        headers={**bearer(token(stack, "admin")), "content-type": "application/json"},
    )

    assert response.status_code == 400
    after = sum(stack.handled(i.name, "UpsertProduct") for i in stack.topology.instances())
    assert after == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"weight_grams": -5}, "product.weight_grams"), ({"sku": "bad sku"}, "product.sku")],
    ids=["negative-weight", "bad-sku"],
)
def test_an_invalid_value_is_400_with_a_status_naming_the_field(
    stack: Stack, api: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    response = api.post(
        "/admin/v1/products",
        json=new_product(unique_sku(), **changes),
        headers=bearer(token(stack, "admin")),
    )

    assert response.status_code == 400
    status = response.json()
    assert status["code"] == 3  # INVALID_ARGUMENT
    assert field in status["message"]
    bad_request = next(
        d for d in status["details"] if d["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    )
    assert [v["field"] for v in bad_request["field_violations"]] == [field]


def test_a_service_that_is_not_running_is_unavailable_not_unknown(
    stack: Stack, api: httpx.Client
) -> None:
    assert "orders" not in stack.topology.services
    assert api.get("/v1/orders").status_code == 401  # the token is checked first
    response = api.get("/v1/orders", headers=bearer(token(stack, "customer")))

    assert response.status_code == 503
    assert response.json()["message"] == "service orders is not deployed in this stack"
    assert api.get("/v1/no-such-resource").status_code == 404


def test_every_response_carries_an_x_request_id_and_keeps_the_callers(
    stack: Stack, api: httpx.Client
) -> None:
    admin, customer = bearer(token(stack, "admin")), bearer(token(stack, "customer"))
    requests = {
        200: ("GET", "/v1/products", {}, None),
        400: ("POST", "/admin/v1/products", admin, new_product(unique_sku(), weight_grams=-1)),
        401: ("GET", "/v1/orders", {}, None),
        403: ("POST", "/admin/v1/products", customer, new_product(unique_sku())),
        404: ("GET", "/v1/products/NO-SUCH-SKU", {}, None),
        503: ("GET", "/v1/orders", customer, None),
    }
    for status, (method, path, headers, body) in requests.items():
        generated = api.request(method, path, headers=headers, json=body)
        mine = f"system-test-{uuid.uuid4()}"
        kept = api.request(method, path, headers={**headers, "x-request-id": mine}, json=body)

        assert (generated.status_code, kept.status_code) == (status, status)
        assert uuid.UUID(generated.headers["x-request-id"])
        assert kept.headers["x-request-id"] == mine

    # The caller's id is the correlation id all the way into the service's logs.
    traced = f"system-test-{uuid.uuid4()}"
    api.get("/v1/products", headers={"x-request-id": traced})
    wait_until(
        lambda: any(traced in stack.log(i.name) for i in stack.topology.instances()),
        "the catalog logs the call under the caller's x-request-id",
    )
