"""The gateway serves the OpenAPI document and the reference page, and Schemathesis, fuzzing
every deployed operation through the real gateway (anonymous, customer and admin), finds
no server error and no response the document does not describe.

The fuzz run is bounded (a fixed seed, a few examples per operation) to fit CI; a person's
longer, randomized run is `scripts/fuzz`. Every failure it found is fixed at its cause and
kept below as a regression test.
"""

from __future__ import annotations

import importlib.resources
import json
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import jsonschema_rs
import pytest

from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shoptools.fuzz import PASSES, deployed_operations, fuzz
from shoptools.mesh.jwt import Role, mint_token

from .harness import Stack

# Per operation and pass, with a fixed seed so a CI failure reproduces.
CI_RUN = ("--max-examples", "10", "--seed", "20261203")


@pytest.fixture(scope="module")
def stack(full_stack: Stack) -> Stack:
    """Every service, orders included, so every operation of the document is fuzzed. (The
    order tests share this stack and run before this module: what the fuzzer writes cannot
    disturb their books.)"""
    return full_stack


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        (importlib.resources.files("shop") / "openapi.json").read_text()
    )
    return loaded


@pytest.fixture(scope="module")
def api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.gateway, timeout=30)


def bearer(stack: Stack, role: Role) -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(stack.topology.pki_dir, 'regression', role)}"}


def conforms(document: dict[str, Any], component: str, body: object) -> None:
    """Validate `body` against a component schema of the document, formats included."""
    schema = {**document, "$ref": f"#/components/schemas/{component}"}
    jsonschema_rs.validator_for(schema, validate_formats=True).validate(body)


def test_the_gateway_serves_the_generated_document(
    api: httpx.Client, document: dict[str, Any]
) -> None:
    served = api.get("/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    assert served.json() == document


def test_the_gateway_serves_the_reference_page_with_its_assets(api: httpx.Client) -> None:
    redirect = api.get("/docs")
    assert redirect.status_code == 301
    assert redirect.headers["location"].endswith("/docs/")
    page = api.get("/docs/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # Swagger UI from the vendored swagger-ui-dist, served here: no CDN.
    assert 'src="/docs/swagger-ui-bundle.js"' in page.text
    assert 'url: "/openapi.json"' in page.text
    assert "https://" not in page.text
    bundle = api.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/javascript"
    assert "SwaggerUIBundle" in bundle.text
    assert api.get("/docs/swagger-ui.css").headers["content-type"] == "text/css"


def test_schemathesis_finds_no_server_error_and_no_undocumented_response(
    stack: Stack, document: dict[str, Any]
) -> None:
    results = fuzz(stack.gateway, stack.topology, CI_RUN)
    report = "\n".join(f"=== {r.name} ===\n{r.output}" for r in results if not r.passed)
    assert all(r.passed for r in results), report
    deployed = deployed_operations(document, stack.topology)
    expected = {
        p.name: sum(1 for access in deployed.values() if access in p.access) for p in PASSES
    }
    assert {r.name: r.operations for r in results} == expected
    assert all(r.cases > r.operations for r in results)


# Regressions: what Schemathesis found, each fixed at its cause.


@dataclass(frozen=True)
class Refusal:
    path: str
    status: int
    code: int  # google.rpc.Code
    message: str  # a part of it
    body: bytes | None = None  # POSTed as JSON when set


REFUSALS = {
    # The transcoder: a query parameter the contract does not define.
    "unknown-query-parameter": Refusal(
        "/v1/products?no_such_field=1", 400, 3, 'Could not find field "no_such_field"'
    ),
    # The transcoder: a body that is not the request message.
    "malformed-body": Refusal(
        "/v1/shipping:quote", 400, 3, "Root element must be a message", b"[null, null]"
    ),
    # The transcoder: no operation at this path.
    "unknown-path": Refusal("/v1/no-such-resource", 404, 5, "Could not resolve"),
    # jwt_authn: no token for an admin operation.
    "missing-token": Refusal("/admin/v1/audit/chain:verify", 401, 16, "Jwt is missing"),
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_the_gateways_own_refusals_are_json_statuses(
    api: httpx.Client, document: dict[str, Any], refusal: Refusal
) -> None:
    """They were text/plain (ST105 Undocumented Content-Type): the local-reply mappers of
    the gateway now give them the google.rpc.Status body the document promises."""
    if refusal.body is None:
        response = api.get(refusal.path)
    else:
        headers = {"content-type": "application/json"}
        response = api.post(refusal.path, content=refusal.body, headers=headers)
    assert response.status_code == refusal.status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert (body["code"], body["details"]) == (refusal.code, [])
    assert refusal.message in body["message"]
    conforms(document, "google.rpc.Status", body)


def test_a_customer_refused_an_admin_operation_gets_a_json_status(
    stack: Stack, api: httpx.Client, document: dict[str, Any]
) -> None:
    response = api.get("/admin/v1/audit/chain:verify", headers=bearer(stack, "customer"))
    assert response.status_code == 403
    assert response.json() == {"code": 7, "message": "RBAC: access denied", "details": []}
    conforms(document, "google.rpc.Status", response.json())


def test_a_grpc_caller_still_gets_a_grpc_status(stack: Stack) -> None:
    """The JSON bodies are for REST callers only: a gRPC client of the gateway keeps its
    grpc-status (the mappers match only requests the transcoder rewrote, or non-gRPC ones)."""
    with grpc.insecure_channel(f"127.0.0.1:{stack.topology.gateway_port}") as channel:
        stub = catalog_grpc.CatalogServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.UpsertProduct(catalog.UpsertProductRequest(), timeout=30)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_new_customers_preferences_conform_to_the_document(
    stack: Stack, api: httpx.Client, document: dict[str, Any]
) -> None:
    """They broke the schema (ST108): an empty email and phone number, which the contract
    allows (IGNORE_IF_ZERO_VALUE), against a format and pattern the document applied to
    every value; the generator now admits the zero value there."""
    response = api.get("/v1/notification-preferences", headers=bearer(stack, "customer"))
    assert response.status_code == 200, response.text
    preferences = response.json()["preferences"]
    assert (preferences["email"], preferences["phone_e164"]) == ("", "")
    conforms(document, "shop.notifications.v1.GetPreferencesResponse", response.json())


def test_a_string_with_a_nul_character_is_a_bad_request_not_a_server_error(
    stack: Stack, api: httpx.Client, document: dict[str, Any]
) -> None:
    """It was a 500 (ST101, POST /admin/v1/stock/{sku}:adjust with a NUL in `reason`, in the
    stateful phase): PostgreSQL cannot store U+0000. The chassis now refuses it for every
    service, naming the field, before any service code runs."""
    admin = bearer(stack, "admin")
    adjust = api.post(
        "/admin/v1/stock/NUL-1:adjust",
        json={"idempotency_key": str(uuid.uuid4()), "delta": 5, "reason": "a\x00b"},
        headers=admin,
    )
    search = api.get("/v1/products:search", params={"query": "tea\x00pot"})
    for response, field in ((adjust, "reason"), (search, "query")):
        assert response.status_code == 400, response.text
        status = response.json()
        conforms(document, "google.rpc.Status", status)
        (violations,) = [d["field_violations"] for d in status["details"]]
        assert violations == [
            {
                "field": field,
                "description": "must not contain the NUL character (U+0000)",
                "reason": "",
            }
        ]
