"""What the benchmark needs of the HTTP API through the gateway (its pacts
pacts/shop-bench-<catalog|inventory|orders>.json): the catalog's products with their SKU
and price currency, and a restock of each as an administrator (how `shop bench orders`
prepares), a product by its SKU (`shop bench reads`), and PlaceOrder as a customer
answering the new order's id (what the load generator captures to time each order's
saga). The real clients (shoptools.bench.orders' preparation, shoptools.bench.load's HTTP
caller) call Pact's mock servers, which answer from the pacts and fail the test on any
request a pact does not name. The providers verify the pacts through the real gateway on
a stack (tests/system/test_pact_rest.py)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from chassis.testing import pact
from shoptools.bench import load
from shoptools.bench import orders as bench_orders
from shoptools.topology import Topology

SKU = "KIT-KNIFE-1"
ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
KEY = "3f2a1b0c-9d8e-4f7a-b6c5-d4e3f2a1b0c9"  # a fresh one on every call
BEARER = r"^Bearer [-\w]+\.[-\w]+\.[-\w]+$"  # a JWT
AS_CUSTOMER = pact.from_state("Bearer header.payload.signature", "Bearer ${customerToken}", BEARER)
AS_ADMIN = pact.from_state("Bearer header.payload.signature", "Bearer ${adminToken}", BEARER)
IN_STOCK = "product KIT-KNIFE-1 sells at EUR 89.00 and is in stock"

CATALOG = pact.new_pact("shop-bench", "catalog")
(
    CATALOG.upon_receiving("the products of the catalog")
    .given(IN_STOCK)
    .with_request("GET", "/v1/products")
    .with_query_parameter("page_size", "100")
    .will_respond_with(200)
    .with_body(
        {
            "products": pact.match.each_like(
                {
                    "sku": pact.match.regex(SKU, regex=r"^[A-Z0-9][A-Z0-9-]{2,31}$"),
                    "price": {"currency_code": "EUR"},
                }
            )
        },
        "application/json",
    )
)
(
    CATALOG.upon_receiving("a product by its SKU")
    .given(IN_STOCK)
    .with_request("GET", f"/v1/products/{SKU}")
    .will_respond_with(200)  # all a read benchmark counts
)

INVENTORY = pact.new_pact("shop-bench", "inventory")
(
    INVENTORY.upon_receiving("a restock of a product by an administrator")
    .given(IN_STOCK)
    .with_request("POST", f"/admin/v1/stock/{SKU}:adjust")
    .with_header("authorization", AS_ADMIN)
    .with_body(
        {"idempotencyKey": pact.uuid(KEY), "delta": bench_orders.RESTOCK, "reason": "bench orders"},
        "application/json",
    )
    .will_respond_with(200)
    .with_body({}, "application/json")  # read as JSON, nothing of it used
)

ORDERS = pact.new_pact("shop-bench", "orders")
[ORDER_BODY] = bench_orders.order_bodies([SKU])
(
    ORDERS.upon_receiving("an order a customer places")
    .given(IN_STOCK)
    .with_request("POST", "/v1/orders")
    .with_header("authorization", AS_CUSTOMER)
    .with_body(
        {**json.loads(ORDER_BODY), "idempotencyKey": pact.uuid(KEY)},
        "application/json",
    )
    .will_respond_with(200)
    .with_body({"order": {"order_id": pact.uuid(ORDER_ID)}}, "application/json")
)


def port_of(server_url: str) -> int:
    return int(server_url.rstrip("/").rsplit(":", 1)[1])


async def once(spec: load.Spec) -> tuple[bool, bytes]:
    call, close = await load._caller(spec)  # the load process's own
    try:
        return await call(0, 0)
    finally:
        await close()


def test_the_benchmarks_find_what_to_order_restock_it_and_read_a_product(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`shop bench orders`' preparation as it runs, its two providers' mock servers behind
    one gateway address (each request sent to the one whose API it calls); then a read as
    `shop bench reads`' load processes make it."""
    real_http = bench_orders._http
    with CATALOG.serve(addr="127.0.0.1") as catalog, INVENTORY.serve(addr="127.0.0.1") as stock:

        def routed(url: str, body: dict[str, Any] | None = None, *, token: str = "") -> Any:
            path = urlsplit(url)
            server = stock if path.path.startswith("/admin/v1/stock/") else catalog
            return real_http(f"{server.url}{path.path}?{path.query}".rstrip("?"), body, token=token)

        monkeypatch.setattr(bench_orders, "_http", routed)
        skus = bench_orders._prepare(Topology(state_dir=tmp_path), io.StringIO())
        read = load.Spec(
            transport="http",
            port=port_of(str(catalog.url)),
            connections=1,
            http_paths=(f"/v1/products/{SKU}",),
        )
        ok, _ = asyncio.run(once(read))

    assert skus == [SKU]
    assert ok


def test_the_load_generator_places_an_order_and_captures_its_id() -> None:
    with ORDERS.serve(addr="127.0.0.1") as server:
        place = load.Spec(
            transport="http",
            port=port_of(str(server.url)),
            connections=1,
            http_method="POST",
            http_paths=("/v1/orders",),
            http_bodies=(ORDER_BODY,),
            http_headers=("Authorization: Bearer header.payload.signature",),
            capture="order_id",
        )
        ok, body = asyncio.run(once(place))

    assert ok
    assert load.captured_field(body, b'"order_id":"') == ORDER_ID


def test_the_pacts_in_the_repository_are_current() -> None:
    for written in (CATALOG, INVENTORY, ORDERS):
        pact.assert_committed(written)
