"""What must hold across the services once every saga is done, read from each service's
own database as the Postgres superuser: every row, not only those an order points at, since
a leak is a row no order knows."""

from __future__ import annotations

from .orders_client import CONFIRMED, FINAL, WAIT_S, Json, Shop, minor, poll, summary

LIVE_SHIPMENT = ("PENDING", "DISPATCHED", "DELIVERED")
HOLDING_RESERVATION = ("PENDING", "CONFIRMED")


def violations(shop: Shop) -> list[str]:
    """Every broken invariant of the stack's orders, payments, stock and shipments, in
    words; empty when all hold."""
    order_ids = [str(row[0]) for row in shop.rows("orders", "SELECT order_id FROM orders")]
    orders = {order_id: shop.order(None, order_id) for order_id in order_ids}
    found = [
        f"order {order_id} ended {summary(order)}"
        for order_id, order in orders.items()
        if order["status"] not in FINAL
    ]
    found += _money(shop, orders)
    found += _stock(shop, orders)
    found += _shipments(shop, orders)
    return found


def _money(shop: Shop, orders: dict[str, Json]) -> list[str]:
    found = []
    payments: dict[str, list[tuple[str, int, int]]] = {}
    for order_id, status, captured, refunded in shop.rows(
        "payments", "SELECT order_id, status, captured_minor, refunded_minor FROM payments"
    ):
        payments.setdefault(str(order_id), []).append((str(status), int(captured), int(refunded)))
    for order_id, rows in payments.items():
        holds = any(
            status == "AUTHORIZED" or captured != refunded for status, captured, refunded in rows
        )
        if order_id not in orders and holds:
            found.append(f"payments {rows} for an order orders does not know: {order_id}")
        if any(status == "AUTHORIZED" for status, _, _ in rows):
            found.append(f"an authorization left open for order {order_id}: {rows}")
        if sum(1 for _, captured, _ in rows if captured) > 1:
            found.append(f"order {order_id} charged more than once: {rows}")
    for order_id, order in orders.items():
        kept = sum(captured - refunded for _, captured, refunded in payments.get(order_id, []))
        expected = minor(order["total"]) if order["status"] == CONFIRMED else 0
        if kept != expected:
            found.append(f"order {order_id} ({order['status']}) keeps {kept}, expected {expected}")
    [(settled, held)] = shop.rows(
        "payments",
        "SELECT coalesce(sum(amount_minor) FILTER (WHERE account = 'processor_settlement'), 0),"
        " coalesce(sum(amount_minor) FILTER (WHERE account = 'authorization_holds'), 0)"
        " FROM ledger_entries",
    )
    confirmed = sum(minor(o["total"]) for o in orders.values() if o["status"] == CONFIRMED)
    if int(settled) != confirmed:
        found.append(f"ledger: settlement {settled} != {confirmed}, the confirmed orders' total")
    if int(held):
        found.append(f"ledger: {held} still held on cards")
    return found


def _stock(shop: Shop, orders: dict[str, Json]) -> list[str]:
    """Per SKU: received (adjustments, the seed's included) = available + reserved + sold,
    sold = confirmed reservations less restocks = the confirmed orders' quantities."""
    found = []
    levels = {
        str(sku): (int(on_hand), int(reserved))
        for sku, on_hand, reserved in shop.rows(
            "inventory", "SELECT sku, on_hand, reserved FROM stock_levels"
        )
    }
    received: dict[str, int] = {}
    restocked: dict[str, int] = {}
    for sku, delta, reservation in shop.rows(
        "inventory", "SELECT sku, delta, reservation_id FROM stock_adjustments"
    ):
        into = received if reservation is None else restocked
        into[str(sku)] = into.get(str(sku), 0) + int(delta)
    by_status: dict[tuple[str, str], int] = {}
    holding: dict[str, set[str]] = {}  # order id -> its reservations that hold stock
    for order_id, reservation_id, status, sku, quantity in shop.rows(
        "inventory",
        "SELECT r.order_id, r.reservation_id, r.status, l.sku, l.quantity FROM reservations r"
        " JOIN reservation_lines l USING (reservation_id)",
    ):
        key = (str(status), str(sku))
        by_status[key] = by_status.get(key, 0) + int(quantity)
        if status in HOLDING_RESERVATION:
            holding.setdefault(str(order_id), set()).add(str(reservation_id))
    ordered: dict[str, int] = {}
    for order in orders.values():
        if order["status"] == CONFIRMED:
            for line in order["lines"]:
                ordered[line["sku"]] = ordered.get(line["sku"], 0) + int(line["quantity"])
    for sku, (on_hand, reserved) in levels.items():
        sold = by_status.get(("CONFIRMED", sku), 0) - restocked.get(sku, 0)
        pending = by_status.get(("PENDING", sku), 0)
        if reserved or pending:
            found.append(f"{sku}: {reserved} reserved, {pending} in PENDING reservations")
        available = on_hand - reserved
        if available + reserved + sold != received.get(sku, 0):
            found.append(
                f"{sku}: available {available} + reserved {reserved} + sold {sold}"
                f" != received {received.get(sku, 0)}"
            )
        if sold != ordered.get(sku, 0):
            found.append(f"{sku}: {sold} sold, but confirmed orders hold {ordered.get(sku, 0)}")
    found += [
        f"order {order_id} holds stock twice: reservations {sorted(reservations)}"
        for order_id, reservations in holding.items()
        if len(reservations) > 1
    ]
    return found


def _shipments(shop: Shop, orders: dict[str, Json]) -> list[str]:
    found = []
    live: dict[str, int] = {}
    for order_id, status in shop.rows("shipping", "SELECT order_id, status FROM shipments"):
        if status in LIVE_SHIPMENT:
            live[str(order_id)] = live.get(str(order_id), 0) + 1
    found += [
        f"{count} live shipments for an order orders does not know: {order_id}"
        for order_id, count in live.items()
        if order_id not in orders
    ]
    for order_id, order in orders.items():
        expected = 1 if order["status"] == CONFIRMED else 0
        if live.get(order_id, 0) != expected:
            found.append(
                f"order {order_id} ({order['status']}) has {live.get(order_id, 0)} live"
                f" shipments, expected {expected}"
            )
    return found


def wait_for_invariants(shop: Shop, timeout_s: float = WAIT_S) -> None:
    """Until every invariant holds (compensations and the cancellation's choreography
    finish asynchronously); fails with what was still broken."""
    poll(lambda: violations(shop), lambda found: not found, "every invariant holds", timeout_s)


def left_open(shop: Shop, order_id: str) -> dict[str, list[str]]:
    """What the order still holds at each service, from their databases: authorizations
    (or money kept), stock taken or held, live shipments; empty lists when nothing."""
    return {
        "payments": [
            f"{status} captured={captured} refunded={refunded}"
            for status, captured, refunded in shop.rows(
                "payments",
                "SELECT status, captured_minor, refunded_minor FROM payments WHERE order_id = %s",
                order_id,
            )
            if status == "AUTHORIZED" or captured != refunded
        ],
        "reservations": [
            str(status)
            for (status,) in shop.rows(
                "inventory",
                # Confirmed stock is given back by a restock; the reservation stays CONFIRMED.
                "SELECT status FROM reservations r WHERE order_id = %s AND (status = 'PENDING'"
                " OR status = 'CONFIRMED' AND NOT EXISTS (SELECT FROM stock_adjustments a"
                " WHERE a.reservation_id = r.reservation_id))",
                order_id,
            )
        ],
        "shipments": [
            str(status)
            for (status,) in shop.rows(
                "shipping", "SELECT status FROM shipments WHERE order_id = %s", order_id
            )
            if status in LIVE_SHIPMENT
        ],
    }


NOTHING_OPEN: dict[str, list[str]] = {"payments": [], "reservations": [], "shipments": []}
