"""The OpenAPI document scripts/gen writes (gen/python/shop/openapi.json): valid, linted,
complete, fresh, and saying what the gateway's transcoder and the services really do."""

from __future__ import annotations

import importlib.resources
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

from shop.audit.v1 import audit_service_pb2
from shop.orders.v1 import order_pb2
from shoptools import web
from shoptools.contracts import codegen
from shoptools.contracts.layout import Layout, find_root
from shoptools.contracts.model import Access, load_contracts

Document = dict[str, Any]
# The extension's stub type does not match MethodOptions.Extensions (as in test_conventions).
HTTP: Any = annotations_pb2.http


@pytest.fixture(scope="module")
def document() -> Document:
    text = (importlib.resources.files("shop") / "openapi.json").read_text()
    loaded: Document = json.loads(text)
    return loaded


def operations(document: Document) -> dict[str, Document]:
    """operationId -> operation, each with its `method` and `path` added."""
    return {
        op["operationId"]: {**op, "method": method, "path": path}
        for path, methods in document["paths"].items()
        for method, op in methods.items()
    }


def schema(document: Document, name: str) -> Document:
    found: Document = document["components"]["schemas"][name]
    return found


def parameter(operation: Document, name: str) -> Document:
    found: Document = next(p for p in operation["parameters"] if p["name"] == name)
    return found


def test_the_document_is_valid_openapi_3_1(document: Document) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any violation


def test_redocly_lints_it_clean_with_the_rules_we_switched_off_explained() -> None:
    result = web.lint_openapi(Path(str(importlib.resources.files("shop") / "openapi.json")))
    assert result.returncode == 0, result.stdout + result.stderr
    config = (web.WEB_DIR / "redocly.yaml").read_text().splitlines()
    for i, line in enumerate(config):
        if line.strip().endswith(": off"):
            assert config[i - 1].strip().startswith("#"), f"no reason given for {line.strip()}"


def test_every_rpc_with_an_http_binding_is_an_operation_and_no_other(document: Document) -> None:
    contracts = descriptor_pb2.FileDescriptorSet.FromString(
        (importlib.resources.files("shop") / "contracts.binpb").read_bytes()
    )
    bound = {
        f"{service.name}.{method.name}": method.options.Extensions[HTTP]
        for file in contracts.file
        for service in file.service
        for method in service.method
        if method.options.HasExtension(HTTP)
    }
    found = operations(document)
    assert set(found) == set(bound)
    for operation_id, rule in bound.items():
        kind = rule.WhichOneof("pattern")
        assert found[operation_id]["method"] == kind
        assert found[operation_id]["path"] == getattr(rule, kind)
    assert "InventoryService.ReserveStock" not in found  # internal: never on the edge


def test_proto_comments_are_the_descriptions(document: Document) -> None:
    get_product = operations(document)["CatalogService.GetProduct"]
    assert get_product["summary"] == "Returns one product by SKU"
    assert get_product["description"].startswith("Returns one product by SKU. NOT_FOUND")
    product = schema(document, "shop.catalog.v1.Product")
    assert product["properties"]["name"]["description"] == "Display name."


def test_json_mapping_is_the_transcoders(document: Document) -> None:
    product = schema(document, "shop.catalog.v1.Product")["properties"]
    # 64-bit integers are strings; 32-bit ones numbers; proto field names, not camelCase.
    assert product["version"]["type"] == "string"
    assert product["version"]["format"] == "int64"
    assert product["weight_grams"]["type"] == "integer"
    assert "image_url" in product
    assert "imageUrl" not in product
    # Timestamps are RFC 3339 strings.
    assert product["update_time"]["type"] == "string"
    assert product["update_time"]["format"] == "date-time"
    # Enums by name, every name of the contract's enum.
    verify = schema(document, "shop.audit.v1.VerifyChainResponse")["properties"]
    assert verify["broken_because"]["enum"] == list(audit_service_pb2.ChainBreak.keys())
    assert verify["head_hash"]["format"] == "byte"


def test_buf_validate_rules_become_json_schema(document: Document) -> None:
    ops = operations(document)
    sku = parameter(ops["CatalogService.GetProduct"], "sku")
    assert sku["required"] is True
    assert sku["schema"]["pattern"] == "^[A-Z0-9][A-Z0-9-]{2,31}$"
    page_size = parameter(ops["CatalogService.ListProducts"], "page_size")["schema"]
    assert (page_size["minimum"], page_size["maximum"]) == (0, 100)
    place = schema(document, "shop.orders.v1.PlaceOrderRequest")
    # Required: `required` rules, and fields whose zero value (absent) breaks a rule.
    assert set(place["required"]) >= {"idempotency_key", "lines", "shipping_address"}
    assert "expected_total" not in place["required"]
    props = place["properties"]
    assert props["idempotency_key"]["format"] == "uuid"
    assert (props["lines"]["minItems"], props["lines"]["maxItems"]) == (1, 50)
    assert "EUR" in props["currency_code"]["enum"]
    # An enum subset: UNSPECIFIED is excluded by `not_in: [0]`.
    speeds = props["shipping_speed"]["enum"]
    names = order_pb2.ShippingSpeed.keys()
    assert speeds == [n for n in names if not n.endswith("UNSPECIFIED")]
    # What JSON Schema cannot say is named: CEL rules of a field and of a message.
    assert "lines.unique_sku: each SKU may appear only once" in props["lines"]["description"]
    assert "expected_total.currency" in place["description"]
    delta = schema(document, "shop.inventory.v1.AdjustStockRequest_sku_Body")["properties"]
    assert delta["delta"]["not"] == {"enum": [0]}
    categories = schema(document, "shop.catalog.v1.Product")["properties"]["categories"]
    assert (categories["maxItems"], categories["uniqueItems"]) == (10, True)


def test_a_rule_that_ignores_the_zero_value_admits_it(document: Document) -> None:
    """Regression (Schemathesis, GET /v1/notification-preferences): a new customer's
    preferences have an empty email, which IGNORE_IF_ZERO_VALUE allows."""
    preferences = schema(document, "shop.notifications.v1.Preferences")
    email = preferences["properties"]["email"]
    assert {"const": ""} in email["anyOf"]
    assert {"format": "email", "maxLength": 254} in email["anyOf"]
    assert "email" not in preferences.get("required", [])


def test_a_body_star_with_a_path_variable_leaves_the_variable_out_of_the_body(
    document: Document,
) -> None:
    adjust = operations(document)["InventoryService.AdjustStock"]
    body = adjust["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "sku" not in schema(document, body.rsplit("/", 1)[-1])["properties"]
    assert parameter(adjust, "sku")["in"] == "path"


def test_security_follows_the_access_option(document: Document) -> None:
    access = {
        f"{s.full_name.rsplit('.', 1)[-1]}.{m.name}": m.access
        for s in load_contracts().values()
        for m in s.methods.values()
    }
    expected = {
        Access.ANONYMOUS: [],
        Access.CUSTOMER: [{"bearer": ["customer"]}],
        Access.ADMIN: [{"bearer": ["admin"]}],
    }
    for operation_id, operation in operations(document).items():
        assert operation["security"] == expected[access[operation_id]], operation_id
    bearer = document["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"], bearer["bearerFormat"]) == ("http", "bearer", "JWT")


def test_every_error_the_gateway_answers_is_documented(document: Document) -> None:
    for operation in operations(document).values():
        codes = set(operation["responses"])
        anonymous = operation["security"] == []
        assert codes == {"200", "400", "401", "404", "409", "429", "503"} | (
            set() if anonymous else {"403"}
        ), operation["operationId"]
    responses = document["components"]["responses"]
    for response in responses.values():
        assert response["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/google.rpc.Status"
        }
    assert responses["TooManyRequests"]["headers"]["Retry-After"]["required"] is True
    details = schema(document, "google.rpc.Status")["properties"]["details"]["items"]
    assert {"$ref": "#/components/schemas/google.rpc.BadRequest_Any"} in details["anyOf"]
    violation = schema(document, "google.rpc.BadRequest.FieldViolation")["properties"]
    assert {"field", "description"} <= set(violation)


def test_a_write_links_to_the_operations_on_what_it_wrote(document: Document) -> None:
    upsert = operations(document)["CatalogService.UpsertProduct"]
    assert upsert["responses"]["200"]["links"]["GetProduct"] == {
        "operationId": "CatalogService.GetProduct",
        "parameters": {"sku": "$response.body#/product/sku"},
    }
    place = operations(document)["OrdersService.PlaceOrder"]["responses"]["200"]["links"]
    assert {name: link["operationId"] for name, link in place.items()} == {
        "GetOrder": "OrdersService.GetOrder",
        "CancelOrder": "OrdersService.CancelOrder",
    }


@pytest.fixture
def copy(tmp_path: Path) -> Layout:
    root = find_root()
    shutil.copy(root / "buf.yaml", tmp_path / "buf.yaml")
    shutil.copytree(root / "proto", tmp_path / "proto")
    shutil.copytree(root / "gen", tmp_path / "gen", ignore=shutil.ignore_patterns("__pycache__"))
    return Layout(tmp_path)


def test_a_contract_edit_without_regeneration_makes_the_document_stale(copy: Layout) -> None:
    service = copy.proto / "shop/catalog/v1/catalog_service.proto"
    service.write_text(
        service.read_text().replace(
            "// Returns one product by SKU.", "// Returns the product with this SKU."
        )
    )
    assert codegen.OPENAPI_DOCUMENT in codegen.stale_files(copy)
