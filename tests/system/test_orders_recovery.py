"""Crash recovery of the order saga on the whole stack: the orders process killed with
SIGKILL inside each step of one saga in turn, restarted by the supervisor each time, and
the saga still ends CONFIRMED with each effect made exactly once: one authorization, one
capture (the ledger says so), one reservation taken from stock once, one shipment; and
killed inside a compensation, the saga still ends REJECTED with the void made once.

"Inside step N" is made certain, not hoped for: the callee's database holds the step's
call (a lock of the test's on that order's rows, orders_gates.Gate) until the saga's
timeline shows step N RUNNING; then orders dies mid-call, the lock is let go (the callee
finishes or drops the orphaned call), and the restarted orders resumes the step, calling
again with the same idempotency key.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .harness import Stack
from .orders_books import (
    NOTHING_OPEN,
    left_open,
)
from .orders_client import (
    CONFIRMED,
    REJECTED,
    Shop,
    minor,
    steps,
    summary,
)
from .orders_gates import (
    Gate,
    gate_authorization,
    gate_payment,
    gate_reservation,
    gate_shipment,
    gate_stock,
)

ORDERS = "orders-1"
FORWARD = ["AUTHORIZE_PAYMENT", "RESERVE_STOCK", "CREATE_SHIPMENT", "CONFIRM_RESERVATION"]
FORWARD += ["CAPTURE_PAYMENT"]


@pytest.fixture(scope="module")
def shop(full_stack: Stack) -> Shop:
    return Shop(full_stack)


def ledger_movements(shop: Shop, payment_id: str) -> list[tuple[str, int]]:
    """The payment's money movements in the ledger, by kind: how many of each."""
    return [
        (str(kind), int(count))
        for kind, count in shop.rows(
            "payments",
            "SELECT kind, count(DISTINCT version) FROM ledger_entries"
            " WHERE payment_id = %s GROUP BY kind ORDER BY kind",
            payment_id,
        )
    ]


def crash_orders(shop: Shop, held: Gate) -> None:
    """SIGKILL orders mid-call, let the held call go, and wait for the supervisor's
    restart."""
    pid = shop.kill(ORDERS)
    held.release()
    shop.wait_restarted(ORDERS, pid)


def test_orders_killed_inside_a_compensation_still_rejects_with_it_done_once(
    shop: Shop,
) -> None:
    customer, sku = "paul", "ELC-WEBCAM-4K"
    stock_gate = gate_stock(shop, sku)
    payment_gate: Gate | None = None
    try:
        wanted = shop.stock(sku)["available"] + 1
        placed = shop.place_order(customer, {sku: wanted})
        shop.wait_for_step(placed, "RESERVE_STOCK")  # authorized; the reservation waits
        payment_gate = gate_payment(shop, placed.order_id)
        stock_gate.release()  # out of stock: the saga compensates, and its void waits
        shop.wait_for_step(placed, "VOID_AUTHORIZATION")
        crash_orders(shop, payment_gate)
    finally:
        stock_gate.release()
        if payment_gate is not None:
            payment_gate.release()

    order = shop.wait_for(placed)

    assert order["status"] == REJECTED, summary(order)
    assert order["rejection_reason"] == "REJECTION_REASON_OUT_OF_STOCK"
    timeline = steps(order)
    assert [(kind, state) for kind, state, _ in timeline] == [
        ("AUTHORIZE_PAYMENT", "COMPENSATED"),
        ("RESERVE_STOCK", "FAILED"),
        ("VOID_AUTHORIZATION", "SUCCEEDED"),
    ]
    assert timeline[-1][2] >= 2, timeline  # the void was called again after the crash
    assert left_open(shop, placed.order_id) == NOTHING_OPEN
    assert ledger_movements(shop, order["payment_id"]) == [("authorization", 1), ("void", 1)]


def test_orders_killed_inside_each_saga_step_still_confirms_with_every_effect_once(
    shop: Shop,
) -> None:
    customer, sku, quantity = "petra", "ELC-POWERBANK-20K", 2
    stock_before = shop.stock(sku)
    restarts_before = shop.component(ORDERS).restarts
    held = gate_authorization(shop)
    stock_gate = gate_stock(shop, sku)
    try:
        placed = shop.place_order(customer, {sku: quantity})
        order_id = placed.order_id
        # Each step: wait until the saga is inside it, take the next step's gate, crash.
        next_gates: list[tuple[str, Callable[[], Gate]]] = [
            ("AUTHORIZE_PAYMENT", lambda: stock_gate),
            ("RESERVE_STOCK", lambda: gate_shipment(shop, order_id)),
            ("CREATE_SHIPMENT", lambda: gate_reservation(shop, order_id)),
            ("CONFIRM_RESERVATION", lambda: gate_payment(shop, order_id)),
        ]
        for step, next_gate in next_gates:
            shop.wait_for_step(placed, step)
            following = next_gate()
            crash_orders(shop, held)
            held = following
        shop.wait_for_step(placed, "CAPTURE_PAYMENT")
        crash_orders(shop, held)
    finally:
        held.release()
        stock_gate.release()

    order = shop.wait_for(placed)

    assert order["status"] == CONFIRMED, summary(order)
    assert shop.component(ORDERS).restarts == restarts_before + 5
    timeline = steps(order)
    assert [(kind, state) for kind, state, _ in timeline] == [
        (kind, "SUCCEEDED") for kind in FORWARD
    ]
    assert all(attempts >= 2 for _, _, attempts in timeline), timeline  # each called again
    total = minor(order["total"])
    assert shop.rows(
        "payments",
        "SELECT status, captured_minor FROM payments WHERE order_id = %s",
        order_id,
    ) == [("CAPTURED", total)]
    assert ledger_movements(shop, order["payment_id"]) == [("authorization", 1), ("capture", 1)]
    assert shop.rows(
        "inventory", "SELECT status FROM reservations WHERE order_id = %s", order_id
    ) == [("CONFIRMED",)]
    stock = shop.stock(sku)
    assert stock["on_hand"] == stock_before["on_hand"] - quantity
    assert stock["reserved"] == stock_before["reserved"]
    assert shop.rows("shipping", "SELECT status FROM shipments WHERE order_id = %s", order_id) == [
        ("PENDING",)
    ]
