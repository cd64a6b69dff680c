"""The order saga on the whole stack, through the gateway: an order confirmed with every
effect it must have at each service (charged, picked, shipped, mailed, audited), each way
an order is refused ending REJECTED with its reason and nothing left open anywhere, a
confirmed order cancelled: refunded, restocked, its shipment cancelled, and an order
cancelled while its saga runs (held inside a step, orders_gates): CANCELLED, nothing kept.

Each test orders its own SKU, so the stock it checks is its own on the shared stack.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from .harness import Stack
from .orders_books import (
    NOTHING_OPEN,
    left_open,
)
from .orders_client import (
    CANCELLED,
    CANCELLING,
    CONFIRMED,
    PENDING,
    REJECTED,
    Json,
    Shop,
    audited_types,
    minor,
    poll,
    steps,
    summary,
)
from .orders_gates import (
    hold_inside,
)

FORWARD = ["AUTHORIZE_PAYMENT", "RESERVE_STOCK", "CREATE_SHIPMENT", "CONFIRM_RESERVATION"]
FORWARD += ["CAPTURE_PAYMENT"]


@pytest.fixture(scope="module")
def shop(full_stack: Stack) -> Shop:
    return Shop(full_stack)


def test_an_order_is_confirmed_charged_picked_shipped_mailed_and_audited(shop: Shop) -> None:
    customer, sku = "hana", "BK-BIRDS-EUROPE"
    address = shop.receive_mail_for(customer)
    stock_before = shop.stock(sku)

    placed = shop.place_order(customer, {sku: 2})

    assert placed.order["status"] == PENDING
    assert placed.consistency_token
    # A read with the token sees the write it names.
    read = shop.order(customer, placed.order_id, placed.consistency_token)
    assert read["order_id"] == placed.order_id
    order = shop.wait_for(placed)
    assert order["status"] == CONFIRMED, summary(order)
    assert [(kind, state) for kind, state, _ in steps(order)] == [(k, "SUCCEEDED") for k in FORWARD]
    total = minor(order["total"])
    assert total == 2 * minor(order["lines"][0]["unit_price"]) + minor(order["shipping_cost"])

    payment = shop.payment(order["payment_id"])
    assert payment["status"] == "PAYMENT_STATUS_CAPTURED"
    assert payment["order_id"] == placed.order_id
    assert minor(payment["captured_amount"]) == total
    stock = shop.stock(sku)
    assert stock["on_hand"] == stock_before["on_hand"] - 2
    assert stock["reserved"] == stock_before["reserved"]
    shipment = shop.shipment(order["shipment_id"])
    assert shipment["status"] == "SHIPMENT_STATUS_PENDING"
    assert shipment["order_id"] == placed.order_id
    assert [(line["sku"], line["quantity"]) for line in shipment["lines"]] == [(sku, 2)]
    assert shipment["address"]["postal_code"] == "10115"

    reference = placed.order_id.split("-")[0].upper()
    mails = poll(
        lambda: [m.subject for m in shop.mail_to(address)],
        lambda subjects: f"Your order {reference} is confirmed" in subjects,
        f"the confirmation of {reference} in the SMTP sink",
    )
    assert mails.count(f"Your order {reference} is confirmed") == 1
    audited = poll(
        lambda: audited_types(shop, placed.order_id),
        lambda types: "shop.orders.v1.OrderConfirmed" in types,
        "OrderConfirmed in the audit log",
    )
    assert audited == ["shop.orders.v1.OrderPlaced", "shop.orders.v1.OrderConfirmed"]
    verified = shop.stack.shop("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("intact:")


def test_another_customers_order_is_not_found(shop: Shop) -> None:
    placed = shop.place_order("ines", {"BK-SMALL-HABITS": 1})

    seen = shop.call("GET", f"/v1/orders/{placed.order_id}", "jonas")
    cancel = shop.call(
        "POST",
        f"/v1/orders/{placed.order_id}:cancel",
        "jonas",
        {"idempotencyKey": str(uuid.uuid4())},
    )

    assert seen.status_code == 404, seen.text
    assert cancel.status_code == 404, cancel.text
    assert shop.wait_for(placed)["status"] == CONFIRMED


REFUSED = "Refused Recipient"  # shipping's database refuses a shipment to them (see below)


@pytest.fixture
def shipping_refuses(shop: Shop) -> Iterator[Json]:
    """An address CreateShipment fails for good. Shipping itself cannot refuse an order
    that PlaceOrder accepted: both apply the same rate table, and PlaceOrder quotes first
    (DESTINATION_NOT_SERVED is answered there). So its database refuses the row: a
    constraint for this recipient only, which leaves every other order alone."""
    with shop.database("shipping") as conn:
        conn.execute(
            "ALTER TABLE shipments ADD CONSTRAINT system_test_refused"
            f" CHECK (recipient <> '{REFUSED}') NOT VALID"
        )
    try:
        yield {
            "recipient": REFUSED,
            "lines": ["Hauptstr. 2"],
            "locality": "Berlin",
            "postalCode": "10115",
            "countryCode": "DE",
        }
    finally:
        with shop.database("shipping") as conn:
            conn.execute("ALTER TABLE shipments DROP CONSTRAINT system_test_refused")


def test_a_declined_card_is_rejected_and_nothing_is_held(shop: Shop) -> None:
    sku = "GRD-RAKE-LEAF"
    stock_before = shop.stock(sku)

    order = shop.wait_for(shop.place_order("kai", {sku: 1}, payment_token="tok_declined"))

    assert order["status"] == REJECTED, summary(order)
    assert order["rejection_reason"] == "REJECTION_REASON_PAYMENT_DECLINED"
    assert steps(order) == [("AUTHORIZE_PAYMENT", "FAILED", 1)]
    assert left_open(shop, order["order_id"]) == NOTHING_OPEN
    payments = shop.rows(
        "payments", "SELECT status FROM payments WHERE order_id = %s", order["order_id"]
    )
    assert payments == [("DECLINED",)]
    assert shop.stock(sku) == stock_before


def test_an_order_beyond_the_stock_is_rejected_and_its_authorization_voided(shop: Shop) -> None:
    sku = "HOF-CHAIR-ERGO"
    stock_before = shop.stock(sku)
    wanted = stock_before["available"] + 1

    order = shop.wait_for(shop.place_order("lena", {sku: wanted}))

    assert order["status"] == REJECTED, summary(order)
    assert order["rejection_reason"] == "REJECTION_REASON_OUT_OF_STOCK"
    assert steps(order) == [
        ("AUTHORIZE_PAYMENT", "COMPENSATED", 1),
        ("RESERVE_STOCK", "FAILED", 1),
        ("VOID_AUTHORIZATION", "SUCCEEDED", 1),
    ]
    assert left_open(shop, order["order_id"]) == NOTHING_OPEN
    assert shop.payment(order["payment_id"])["status"] == "PAYMENT_STATUS_VOIDED"
    assert shop.stock(sku)["available"] == stock_before["available"]


def test_a_shipment_that_fails_for_good_is_rejected_released_and_voided(
    shop: Shop, shipping_refuses: Json
) -> None:
    sku = "GRD-SPADE-BORDER"
    stock_before = shop.stock(sku)

    order = shop.wait_for(shop.place_order("mia", {sku: 1}, address=shipping_refuses))

    assert order["status"] == REJECTED, summary(order)
    assert order["rejection_reason"] == "REJECTION_REASON_INTERNAL_ERROR"
    kinds = [(kind, state) for kind, state, _ in steps(order)]
    assert kinds == [
        ("AUTHORIZE_PAYMENT", "COMPENSATED"),
        ("RESERVE_STOCK", "COMPENSATED"),
        ("CREATE_SHIPMENT", "FAILED"),
        ("RELEASE_RESERVATION", "SUCCEEDED"),
        ("VOID_AUTHORIZATION", "SUCCEEDED"),
    ]
    assert left_open(shop, order["order_id"]) == NOTHING_OPEN
    assert shop.payment(order["payment_id"])["status"] == "PAYMENT_STATUS_VOIDED"
    assert shop.stock(sku)["available"] == stock_before["available"]
    assert shop.rows(
        "shipping", "SELECT count(*) FROM shipments WHERE order_id = %s", order["order_id"]
    ) == [(0,)]


def test_a_processor_that_never_answers_is_retried_to_the_bound_then_rejected(
    shop: Shop,
) -> None:
    order = shop.wait_for(
        shop.place_order("noah", {"GRD-PRUNER-BYPASS": 1}, payment_token="tok_timeout")
    )

    assert order["status"] == REJECTED, summary(order)
    assert order["rejection_reason"] == "REJECTION_REASON_PAYMENT_ERROR"
    assert steps(order) == [("AUTHORIZE_PAYMENT", "FAILED", 4)]  # the saga's retry bound
    assert left_open(shop, order["order_id"]) == NOTHING_OPEN
    assert shop.rows(
        "payments", "SELECT count(*) FROM payments WHERE order_id = %s", order["order_id"]
    ) == [(0,)]


def test_a_confirmed_order_cancelled_is_refunded_restocked_and_its_shipment_cancelled(
    shop: Shop,
) -> None:
    customer, sku = "olga", "OUT-HEADLAMP-400"
    placed = shop.place_order(customer, {sku: 3})
    confirmed = shop.wait_for(placed)
    assert confirmed["status"] == CONFIRMED, summary(confirmed)
    stock_confirmed = shop.stock(sku)

    answer = shop.cancel(customer, placed.order_id)

    assert answer["status"] in (CANCELLING, CANCELLED)
    order = shop.wait_for(placed, frozenset({CANCELLED}))
    total = minor(confirmed["total"])
    payment = poll(
        lambda: shop.payment(confirmed["payment_id"]),
        lambda p: p["status"] == "PAYMENT_STATUS_REFUNDED",
        "the payment refunded",
    )
    assert minor(payment["refunded_amount"]) == minor(payment["captured_amount"]) == total
    stock = poll(
        lambda: shop.stock(sku),
        lambda s: s["on_hand"] == stock_confirmed["on_hand"] + 3,
        f"{sku} restocked",
    )
    assert stock["reserved"] == stock_confirmed["reserved"]
    shipment = poll(
        lambda: shop.shipment(confirmed["shipment_id"]),
        lambda s: s["status"] == "SHIPMENT_STATUS_CANCELLED",
        "the shipment cancelled",
    )
    assert shipment["order_id"] == order["order_id"]
    assert left_open(shop, placed.order_id) == NOTHING_OPEN


@pytest.mark.parametrize("step", ["AUTHORIZE_PAYMENT", "CREATE_SHIPMENT", "CAPTURE_PAYMENT"])
def test_an_order_cancelled_while_its_saga_runs_ends_cancelled_with_nothing_kept(
    shop: Shop, step: str
) -> None:
    """The cancel is queued (the saga holds the order: the semantic lock) and honoured:
    the order never ends CONFIRMED after an accepted cancel, nor half cancelled."""
    sku = "HOF-NOTEBOOK-A5"
    stock_before = shop.stock(sku)
    placed, held = hold_inside(shop, "sven", sku, step)
    try:
        answer = shop.cancel("sven", placed.order_id)
    finally:
        held.release()

    assert answer["status"] == PENDING, summary(answer)
    order = shop.wait_for(placed)
    assert order["status"] == CANCELLED, summary(order)
    poll(
        lambda: left_open(shop, placed.order_id),
        lambda now: now == NOTHING_OPEN,
        "nothing kept for the cancelled order",
    )
    assert shop.stock(sku)["available"] == stock_before["available"]
