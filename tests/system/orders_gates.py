"""Holding a saga inside a chosen step: the step's call waits in the callee on a lock the
test holds in the callee's database, until the test lets it go."""

from __future__ import annotations

import itertools

import psycopg

from .orders_client import Placed, Shop


class Gate:
    """A lock held in a service's database by a transaction of the test's, so that the
    service's own work on those rows waits: the call of a saga step is held inside the
    callee, at a moment the test chooses, for as long as it chooses; `release` lets it go.
    A row lock holds exactly one order's call; the rest of the stack goes on."""

    def __init__(self, shop: Shop, database: str, sql: str, *params: object) -> None:
        topology = shop.stack.topology
        self._conn = psycopg.connect(
            host=str(topology.postgres_dir),
            port=topology.postgres_port,
            user="postgres",
            dbname=database,
        )
        self._conn.execute(sql, params)
        self.what = f"{database}: {sql % params}"

    def release(self) -> None:
        if not self._conn.closed:
            self._conn.rollback()
            self._conn.close()


def gate_authorization(shop: Shop) -> Gate:
    """AuthorizePayment waits to record any new payment."""
    return Gate(shop, "payments", "LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE")


def gate_stock(shop: Shop, sku: str) -> Gate:
    """ReserveStock (and ConfirmReservation) of `sku` wait for its stock level."""
    return Gate(shop, "inventory", "SELECT 1 FROM stock_levels WHERE sku = %s FOR UPDATE", sku)


def gate_shipment(shop: Shop, order_id: str) -> Gate:
    """CreateShipment (and CancelShipment) of the order wait for its advisory lock."""
    return Gate(
        shop,
        "shipping",
        "SELECT pg_advisory_xact_lock(hashtextextended('orders/' || %s, 0))",
        order_id,
    )


def gate_reservation(shop: Shop, order_id: str) -> Gate:
    """ConfirmReservation (and ReleaseReservation) of the order's reservation wait."""
    return Gate(
        shop, "inventory", "SELECT 1 FROM reservations WHERE order_id = %s FOR UPDATE", order_id
    )


def gate_payment(shop: Shop, order_id: str) -> Gate:
    """CapturePayment (and VoidAuthorization, RefundPayment) of the order's payment wait."""
    return Gate(shop, "payments", "SELECT 1 FROM payments WHERE order_id = %s FOR UPDATE", order_id)


def hold_inside(shop: Shop, customer: str, sku: str, step: str) -> tuple[Placed, Gate]:
    """Place an order of one `sku` and hold its saga inside `step` (AUTHORIZE_PAYMENT,
    RESERVE_STOCK, CREATE_SHIPMENT or CAPTURE_PAYMENT): each step's call is held in turn,
    the next gate taken before the last is let go. The caller releases the gate."""
    chain = ["AUTHORIZE_PAYMENT", "RESERVE_STOCK", "CREATE_SHIPMENT", "CAPTURE_PAYMENT"]
    held = gate_authorization(shop)
    try:
        placed = shop.place_order(customer, {sku: 1})
        gates = {
            "RESERVE_STOCK": lambda: gate_stock(shop, sku),
            "CREATE_SHIPMENT": lambda: gate_shipment(shop, placed.order_id),
            "CAPTURE_PAYMENT": lambda: gate_payment(shop, placed.order_id),
        }
        for current, following in itertools.pairwise(chain):
            shop.wait_for_step(placed, current)
            if current == step:
                return placed, held
            taken = gates[following]()
            held.release()
            held = taken
        shop.wait_for_step(placed, step)
    except BaseException:
        held.release()
        raise
    return placed, held
