"""Catalog, inventory and orders keep their REST clients' pacts (the HTTP pacts in pacts/: `shop`'s
and the benchmark's, written by tools/tests/rest_pacts/) through the real gateway: Pact's
verifier sends each request to a whole stack's gateway (Envoy's JSON transcoding, the JWT
check, the mesh, the service), in the state the consumer named, set up through the public
and admin APIs. What a state made (an order's id) and the tokens a request carries are
handed to the verifier as the state's values, which the pact's requests name
(chassis.testing.pact.from_state)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pact import Verifier

from chassis.testing import pact

from .harness import Stack
from .orders_client import CONFIRMED, Shop, poll, summary

KNIFE = "KIT-KNIFE-1"
CUSTOMER = "customer-1"
IN_STOCK = "product KIT-KNIFE-1 sells at EUR 89.00 and is in stock"
Values = dict[str, str]
States = dict[str, Callable[[], Values]]


@dataclass
class Provider:
    """The states the REST consumers name, set up on a stack through its gateway."""

    shop: Shop

    def tokens(self) -> Values:
        return {"adminToken": self.shop.token(None), "customerToken": self.shop.token(CUSTOMER)}

    def in_stock(self) -> Values:
        """The knife in the catalog at EUR 89.00 (UpsertProduct), 10 more in stock."""
        product = {
            "sku": KNIFE,
            "name": "Chef's Knife",
            "price": {"currency_code": "EUR", "amount_minor": "8900"},
            "weight_grams": 240,
            "image_url": "https://images.example/knife.jpg",
        }
        body = {"idempotency_key": str(uuid.uuid4()), "product": product}
        self.shop.ok("POST", "/admin/v1/products", None, body)
        self.shop.adjust_stock(KNIFE, 10, "pact provider state")
        return self.tokens()

    def sold_by_orders(self) -> Values:
        """In stock, and orders has its price (from catalog's events): an order of it by
        another customer goes through."""
        values = self.in_stock()
        request = self.shop.place_request({KNIFE: 1})
        poll(
            lambda: self.shop.call("POST", "/v1/orders", "pact-probe", request).status_code,
            lambda status: status == 200,
            f"orders taking an order of {KNIFE}",
        )
        return values

    def confirmed(self) -> Values:
        values = self.sold_by_orders()
        placed = self.shop.place_order(CUSTOMER, {KNIFE: 2})
        order = self.shop.wait_for(placed)
        assert order["status"] == CONFIRMED, summary(order)
        return {**values, "orderId": placed.order_id}


@contextlib.contextmanager
def state_endpoint(states: States) -> Iterator[str]:
    """The URL Pact's verifier posts each state change to ({"state", "action", ...}); a
    setup answers the state's values as JSON, for the requests' provider-state values."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            change = json.loads(self.rfile.read(int(self.headers["content-length"])))
            try:
                values = states[change["state"]]() if change["action"] == "setup" else {}
            except Exception as error:  # reported to the verifier, which fails the test
                self.send_error(500, f"{change['state']!r}: {error!r}"[:500])
                return
            body = json.dumps(values).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            """Quiet: the verifier reports each state change."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def verify_rest_provider(provider: str, stack: Stack, states: States) -> None:
    """Every HTTP pact on `provider` (only SHOP_PACT_CONSUMER's, when set) against the
    stack's gateway; fails with Pact's report, which names the consumer and the field."""
    sources = pact.http_pacts(provider)
    assert sources, f"no HTTP pact names {provider} as its provider"
    with state_endpoint(states) as states_url:
        verifier = Verifier(provider, host="127.0.0.1").add_transport(url=stack.gateway)
        verifier.set_coloured_output(enabled=False)
        verifier.state_handler(states_url, teardown=False, body=True)
        for source in sources:
            verifier.add_source(source)
        only = os.environ.get(pact.CONSUMER_ENV)
        if only:
            verifier.filter_consumers(only)
        try:
            verifier.verify()
        except RuntimeError as broken:
            raise AssertionError(
                f"{provider} breaks a REST consumer's pact:\n{verifier.output(strip_ansi=True)}"
            ) from broken


def orders_states(stack: Stack) -> States:
    provider = Provider(Shop(stack))
    return {
        "customer-1's order of 2 x KIT-KNIFE-1 was confirmed": provider.confirmed,
        "there is no order 00000000-0000-4000-8000-000000000000": provider.tokens,
        IN_STOCK: provider.sold_by_orders,
    }


def test_orders_keeps_its_rest_consumers_pacts(full_stack: Stack) -> None:
    verify_rest_provider("orders", full_stack, orders_states(full_stack))


def test_catalog_keeps_its_rest_consumers_pacts(full_stack: Stack) -> None:
    provider = Provider(Shop(full_stack))
    verify_rest_provider("catalog", full_stack, {IN_STOCK: provider.in_stock})


def test_inventory_keeps_its_rest_consumers_pacts(full_stack: Stack) -> None:
    provider = Provider(Shop(full_stack))
    verify_rest_provider("inventory", full_stack, {IN_STOCK: provider.in_stock})


def test_a_field_a_rest_client_reads_that_the_api_does_not_serve_fails_verification(
    full_stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark asks PlaceOrder's answer for the order's colour, which no version of
    the API has: verification through the gateway fails, naming the consumer and the
    field."""
    pacts = tmp_path / "pacts"
    shutil.copytree(pact.pacts_dir(), pacts)
    asking = pacts / "shop-bench-orders.json"
    document = json.loads(asking.read_text())
    for interaction in document["interactions"]:
        interaction["response"]["body"]["content"]["order"]["colour"] = "red"
    asking.write_text(json.dumps(document))
    monkeypatch.setenv(pact.PACTS_ENV, str(pacts))
    monkeypatch.setenv(pact.CONSUMER_ENV, "shop-bench")

    with pytest.raises(AssertionError) as broken:
        verify_rest_provider("orders", full_stack, orders_states(full_stack))

    report = str(broken.value)
    assert "Verifying a pact between shop-bench and orders" in report
    assert "$.order -> Actual map is missing the following keys: colour" in report
