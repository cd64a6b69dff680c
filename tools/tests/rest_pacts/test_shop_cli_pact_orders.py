"""What `shop order` needs of orders' HTTP API through the gateway (its pact
pacts/shop-cli-orders.json): GetOrder as an administrator, and what the timeline reads of
the order (status, total, lines, the ids of what the saga made, each step's kind, state,
attempts and time); a 404 for an order that does not exist. The command's real client
(shoptools.shop.order.get_order) calls Pact's mock server, which answers from the pact and
fails the test on any request the pact does not name. Orders verifies the pact through
the real gateway on a stack (tests/system/test_pact_rest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.testing import pact
from shop.orders.v1 import order_pb2
from shoptools.shop import order as shop_order
from shoptools.topology import Topology

ORDER_ID = "7d0f9a52-63c4-4d1e-9b8a-2f4e6c8a0b13"
MISSING = "00000000-0000-4000-8000-000000000000"
TIME = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"
BEARER = r"^Bearer [-\w]+\.[-\w]+\.[-\w]+$"  # a JWT
AS_ADMIN = pact.from_state("Bearer header.payload.signature", "Bearer ${adminToken}", BEARER)

PACT = pact.new_pact("shop-cli", "orders")


def timestamp(example: str) -> object:
    return pact.match.regex(example, regex=TIME)


(
    PACT.upon_receiving("an order, as an administrator reads it")
    .given("customer-1's order of 2 x KIT-KNIFE-1 was confirmed")
    .with_request("GET", pact.from_state(f"/v1/orders/{ORDER_ID}", "/v1/orders/${orderId}"))
    .with_header("authorization", AS_ADMIN)
    .will_respond_with(200)
    .with_body(
        {
            "order": {
                "order_id": pact.uuid(ORDER_ID),
                "customer_id": "customer-1",
                "status": "ORDER_STATUS_CONFIRMED",
                "total": {"currency_code": "EUR", "amount_minor": pact.int64(18300)},
                "create_time": timestamp("2026-01-01T12:00:00.000001Z"),
                "update_time": timestamp("2026-01-01T12:00:01Z"),
                "lines": pact.match.each_like(
                    {"sku": "KIT-KNIFE-1", "name": pact.match.str("Chef's Knife"), "quantity": 2}
                ),
                "payment_id": pact.uuid("0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f"),
                "reservation_id": pact.uuid("5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8"),
                "shipment_id": pact.uuid("9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5"),
                "saga_steps": pact.match.each_like(
                    {
                        "kind": pact.match.regex(
                            "SAGA_STEP_KIND_RESERVE_STOCK", regex=r"^SAGA_STEP_KIND_[A-Z_]+$"
                        ),
                        "state": "SAGA_STEP_STATE_SUCCEEDED",
                        "attempts": pact.match.int(1),
                        "update_time": timestamp("2026-01-01T12:00:00.5Z"),
                    }
                ),
            }
        },
        "application/json",
    )
)
(
    PACT.upon_receiving("an order that does not exist")
    .given("there is no order 00000000-0000-4000-8000-000000000000")
    .with_request("GET", f"/v1/orders/{MISSING}")
    .with_header("authorization", AS_ADMIN)
    .will_respond_with(404)
    .with_body({"message": pact.match.str("order not found")}, "application/json")
)


def through_the_mock(server_url: str, state_dir: Path) -> Topology:
    """A topology whose gateway is Pact's mock server (the client mints a real token with
    the topology's key; the mock server only checks its form)."""
    port = int(server_url.rsplit(":", 1)[1].rstrip("/"))
    return Topology(state_dir=state_dir, base_port=port)


def test_shop_order_reads_the_order_and_its_saga_as_an_administrator(tmp_path: Path) -> None:
    with PACT.serve(addr="127.0.0.1") as server:
        topology = through_the_mock(str(server.url), tmp_path)
        found = shop_order.get_order(topology, ORDER_ID)
        with pytest.raises(shop_order.OrderError) as missing:
            shop_order.get_order(topology, MISSING)

    shown = shop_order.timeline(found, [])
    assert (shown["order_id"], shown["customer_id"], shown["status"]) == (
        ORDER_ID,
        "customer-1",
        "CONFIRMED",
    )
    assert shown["total"] == "EUR 183.00"
    assert shown["lines"] == [{"sku": "KIT-KNIFE-1", "name": "Chef's Knife", "quantity": 2}]
    assert shop_order.aggregates(found) == [
        f"orders/{ORDER_ID}",
        "payments/0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f",
        "reservations/5c3b1a29-8e7d-4f6a-b5c4-d3e2f1a0b9c8",
        "shipments/9e8d7c6b-5a4f-4e3d-a2c1-b0a9f8e7d6c5",
    ]
    [step] = shown["steps"]
    assert (step["step"], step["outcome"], step["attempts"]) == ("RESERVE_STOCK", "SUCCEEDED", 1)
    assert step["duration_ms"] == 500.0  # from the order's creation to the step's time
    assert found.saga_steps[0].state == order_pb2.SAGA_STEP_STATE_SUCCEEDED
    assert missing.value.exit_code == shop_order.NOT_FOUND


def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
