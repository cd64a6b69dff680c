"""The operations console in a real browser against the whole stack: an admin finds an
order's saga timeline and sees every step in the order it ran, redrives a dead letter
after confirming, verifies the audit chain, adjusts stock and edits a product with the
API's validation errors on the fields; a customer is refused, an anonymous visitor asked
to sign in. Every page is checked with axe-core, at desktop and phone sizes, and the
README's console screenshots are taken here."""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol

import httpx
import pytest
from playwright.sync_api import Page, expect

from shoptools.mesh.jwt import mint_token
from shoptools.stack import nats as stack_nats

from .browser import CheckAccessibility, Screenshot, SignIn
from .harness import Stack, wait_until

SETTLE_S = 60.0  # a saga of five steps and the audit log catching up, on a loaded machine
POLL_S = 0.5  # between API polls: the machine is shared
STACK_SAMPLES_MS = 30_000  # the console samples the stack every 5 s
FORWARD_STEPS = [
    "AUTHORIZE_PAYMENT",
    "RESERVE_STOCK",
    "CREATE_SHIPMENT",
    "CONFIRM_RESERVATION",
    "CAPTURE_PAYMENT",
]
# A product of the seed catalog, priced in EUR. Not "the first product listed": the
# session's other tests (Schemathesis above all) add products of every kind.
SEEDED_SKU = "HOF-NOTEBOOK-A5"
POISONED_SUBJECT = "orders.order.cancelled"  # payments, inventory, shipping... consume it
REDRIVEN = "payments-order-cancelled"
BERLIN = {
    "recipient": "Ada Console",
    "lines": ["Hauptstr. 1"],
    "locality": "Berlin",
    "postal_code": "10115",
    "country_code": "DE",
}


def eventually(condition: Callable[[], bool], what: str) -> None:
    """wait_until, polling the API gently."""

    def checked() -> bool:
        if condition():
            return True
        time.sleep(POLL_S)
        return False

    wait_until(checked, what, timeout_s=SETTLE_S)


class Api(Protocol):
    """The REST API as `who` ("admin", or a customer's id): the reply's JSON, asserting
    success."""

    def __call__(
        self, method: str, path: str, who: str, body: dict[str, Any] | None = None
    ) -> Any: ...


@pytest.fixture(scope="module")
def api(full_stack: Stack) -> Iterator[Api]:
    pki = full_stack.topology.pki_dir
    tokens: dict[str, str] = {}
    with httpx.Client(base_url=full_stack.gateway, timeout=30) as client:

        def call(method: str, path: str, who: str, body: dict[str, Any] | None = None) -> Any:
            role: Literal["admin", "customer"] = "admin" if who == "admin" else "customer"
            if who not in tokens:
                tokens[who] = mint_token(pki, who, role, datetime.timedelta(hours=1))
            reply = client.request(
                method, path, json=body, headers={"authorization": f"Bearer {tokens[who]}"}
            )
            assert reply.is_success, f"{method} {path}: {reply.status_code} {reply.text}"
            return reply.json()

        yield call


def place_confirmed_order(api: Api) -> dict[str, Any]:
    """An order placed through the REST API by a customer of its own, with the approving
    test card, once its saga confirmed it and the audit log recorded the confirmation."""
    sku = SEEDED_SKU
    api(
        "POST",
        f"/admin/v1/stock/{sku}:adjust",
        "admin",
        {"idempotency_key": str(uuid.uuid4()), "delta": 5, "reason": "console test"},
    )
    customer = f"console-{uuid.uuid4().hex[:8]}"
    placed = api(
        "POST",
        "/v1/orders",
        customer,
        {
            "idempotency_key": str(uuid.uuid4()),
            "lines": [{"sku": sku, "quantity": 1}],
            "shipping_address": BERLIN,
            "shipping_speed": "SHIPPING_SPEED_STANDARD",
            "currency_code": "EUR",
            "payment_token": "tok_visa",
        },
    )
    order_id = placed["order"]["order_id"]

    def settled() -> bool:
        return bool(
            api("GET", f"/v1/orders/{order_id}", "admin")["order"]["status"]
            != "ORDER_STATUS_PENDING"
        )

    def confirmation_audited() -> bool:
        query = f"subject=orders/{order_id}&type=shop.orders.v1.OrderConfirmed"
        return bool(api("GET", f"/admin/v1/audit/events?{query}", "admin")["records"])

    eventually(settled, f"order {order_id} settled")
    order: dict[str, Any] = api("GET", f"/v1/orders/{order_id}", "admin")["order"]
    assert order["status"] == "ORDER_STATUS_CONFIRMED", order
    eventually(confirmation_audited, f"OrderConfirmed of {order_id} in the audit log")
    return order


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    listed = stack.shop("dlq", "list", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    letters: list[dict[str, Any]] = json.loads(listed.stdout)
    return letters


def redriven_sequences(stack: Stack) -> list[int]:
    return [
        int(letter["sequence"])
        for letter in dead_letters(stack)
        if letter["subscription"] == REDRIVEN
    ]


async def publish_poison(stack: Stack) -> None:
    """A message no consumer can decode: each subscription of its subject dead-letters it."""
    client = await stack_nats.connect(stack.topology)
    try:
        await client.jetstream().publish(POISONED_SUBJECT, b"\xff not an event envelope")
    finally:
        await client.close()


# --- the tests ----------------------------------------------------------------------------
def test_an_admin_finds_an_orders_saga_timeline_and_sees_every_step_in_order(
    page: Page,
    sign_in: SignIn,
    api: Api,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    order = place_confirmed_order(api)
    order_id = order["order_id"]
    ran = [step["kind"].removeprefix("SAGA_STEP_KIND_") for step in order["saga_steps"]]
    assert ran == FORWARD_STEPS

    sign_in(page, "ops", "admin", "/console/orders")
    page.get_by_label("Order id").fill(order_id)
    page.get_by_role("button", name="Show timeline").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(order_id)
    expect(page.get_by_test_id("order-status")).to_have_text("CONFIRMED")
    steps = page.get_by_test_id("saga-steps").locator("li.step")
    expect(steps).to_have_count(len(FORWARD_STEPS))
    assert [steps.nth(i).get_attribute("data-step") for i in range(len(FORWARD_STEPS))] == ran
    expect(steps.nth(0)).to_contain_text("authorize payment succeeded")
    expect(steps.nth(4)).to_contain_text("capture payment succeeded")
    events = page.get_by_test_id("order-events")
    for kind in (
        "OrderPlaced",
        "PaymentAuthorized",
        "StockReserved",
        "ShipmentCreated",
        "OrderConfirmed",
    ):
        expect(events).to_contain_text(f".v1.{kind}")
    placing = _placing_correlation(api, order_id)
    expect(page.get_by_test_id("correlation-id")).to_have_text(placing)
    expect(page.get_by_test_id("log-command")).to_contain_text(f"| grep -F {placing}")
    check_accessibility(page)
    screenshot(page, "console-order-timeline")


def _placing_correlation(api: Api, order_id: str) -> str:
    query = f"subject=orders/{order_id}&type=shop.orders.v1.OrderPlaced"
    (placed,) = api("GET", f"/admin/v1/audit/events?{query}", "admin")["records"]
    return str(placed["event"]["correlation_id"])


def test_an_admin_inspects_and_redrives_a_dead_letter_after_confirming(
    page: Page,
    sign_in: SignIn,
    full_stack: Stack,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    already = set(redriven_sequences(full_stack))
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, publish_poison(full_stack)).result()
    eventually(
        lambda: bool(set(redriven_sequences(full_stack)) - already), f"a dead letter of {REDRIVEN}"
    )
    before = redriven_sequences(full_stack)

    sign_in(page, "ops", "admin", "/console/dead-letters")
    letters = page.get_by_test_id("dead-letters")
    expect(letters).to_contain_text(REDRIVEN)
    check_accessibility(page)
    screenshot(page, "console-dead-letters")

    letters.get_by_role("link", name=str(before[-1]), exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Dead letter {before[-1]}")
    expect(page.get_by_role("heading", name="Payload (not an event envelope)")).to_be_visible()
    check_accessibility(page)

    page.get_by_role("link", name=f"Redrive {REDRIVEN}…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Redrive {REDRIVEN}?")
    assert redriven_sequences(full_stack) == before  # asking is not doing
    check_accessibility(page)
    page.get_by_role("button", name="Yes, redrive").click()

    expect(page.get_by_test_id("redriven")).to_contain_text(
        f"Redrove {len(before)} letter{'' if len(before) == 1 else 's'} of {REDRIVEN}"
    )
    # Gone from the stream; still poison, so its consumer dead-letters it again.
    eventually(
        lambda: (
            not set(before) & set(redriven_sequences(full_stack))
            and len(redriven_sequences(full_stack)) == len(before)
        ),
        "the redriven letters dead-lettered again under new sequences",
    )


def test_an_admin_verifies_the_audit_chain(
    page: Page,
    sign_in: SignIn,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    sign_in(page, "ops", "admin", "/console/audit")
    expect(page.get_by_test_id("audit-records")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "console-audit-log")

    page.get_by_role("link", name="Verify the chain").click()
    page.get_by_role("button", name="Verify the chain").click()

    expect(page.get_by_test_id("verdict")).to_have_text(
        re.compile(r"^Intact: \d+ records checked\.$")
    )
    check_accessibility(page)
    screenshot(page, "console-audit-verify")


def test_an_admin_adjusts_stock_and_sees_the_apis_validation_errors_on_the_fields(
    page: Page, sign_in: SignIn, api: Api, check_accessibility: CheckAccessibility
) -> None:
    sku = SEEDED_SKU
    sign_in(page, "ops", "admin", "/console/stock")
    page.get_by_label("SKU", exact=True).fill(sku)
    page.get_by_label("Units to add (negative to remove)").fill("0")
    page.get_by_role("button", name="Adjust stock").click()

    delta = page.get_by_label("Units to add (negative to remove)")
    expect(delta).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#delta-error")).to_contain_text("must not be in list [0]")
    expect(page.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)

    delta.fill("3")
    page.get_by_label("Reason").fill("goods receipt 4711")
    page.get_by_role("button", name="Adjust stock").click()
    expect(page.get_by_test_id("done")).to_contain_text(f"Adjusted {sku} by +3")
    expect(page.get_by_label("Units to add (negative to remove)")).not_to_have_attribute(
        "aria-invalid", "true"
    )


def test_an_admin_edits_a_product_and_an_invalid_one_is_refused_field_by_field(
    phone_page: Page,
    sign_in: SignIn,
    api: Api,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    page = phone_page
    sku = f"WEB-{uuid.uuid4().hex[:10].upper()}"  # a product of its own to edit
    product: dict[str, Any] = {
        "sku": sku,
        "name": "Console Test Lamp",
        "price": {"currency_code": "EUR", "amount_minor": "2490"},
        "categories": ["home-office"],
        "weight_grams": 900,
        "image_url": "https://images.shopmesh.example/products/lamp.jpg",
    }
    api(
        "POST",
        "/admin/v1/products",
        "admin",
        {"idempotency_key": str(uuid.uuid4()), "product": product},
    )
    sign_in(page, "ops", "admin", "/console/products")
    page.get_by_label("Load a product by SKU").fill(sku)
    page.get_by_role("button", name="Load").click()
    expect(page.get_by_label("SKU", exact=True)).to_have_value(sku)

    page.get_by_label("Image URL").fill("http://images.example/plain.jpg")
    page.get_by_label("Categories").fill("Not A Slug")
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_label("Image URL")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#image_url-error")).to_contain_text("https://")
    expect(page.get_by_label("Categories")).to_have_attribute("aria-invalid", "true")
    check_accessibility(page)
    screenshot(page, "console-product-errors")

    page.get_by_label("Image URL").fill(product["image_url"])
    page.get_by_label("Categories").fill(", ".join(product["categories"]))
    page.get_by_role("button", name="Save product").click()
    expect(page.get_by_test_id("done")).to_contain_text(f"Saved {sku}")
    saved = api("GET", f"/v1/products/{sku}", "admin")["product"]
    assert {k: saved[k] for k in ("name", "price", "categories", "image_url")} == {
        k: product[k] for k in ("name", "price", "categories", "image_url")
    }


def test_the_stack_view_shows_every_instance_charted(
    page: Page,
    phone_page: Page,
    sign_in: SignIn,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    for opened in (page, phone_page):
        sign_in(opened, "ops", "admin", "/console/")
        signals = opened.get_by_test_id("signals")
        for instance in ("catalog-1", "orders-1", "payments-1", "audit-1"):
            expect(signals.get_by_role("rowheader", name=instance)).to_be_visible()
        expect(opened.get_by_test_id("consumers")).to_contain_text("audit-orders")
        expect(opened.get_by_test_id("components")).to_contain_text("gateway")
        check_accessibility(opened)
    # The page refreshes its panel as samples come: wait for a chart of more than one.
    expect(page.locator("#stack-panel")).not_to_contain_text(
        "charts over the last 0 s", timeout=STACK_SAMPLES_MS
    )
    expect(page.locator("svg.spark polyline").first).to_be_attached()
    screenshot(page, "console-stack")


def test_a_customer_is_refused_the_console(page: Page, sign_in: SignIn) -> None:
    sign_in(page, f"shopper-{uuid.uuid4().hex[:6]}", "customer")
    reply = page.goto("/console/")
    assert reply is not None
    assert reply.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("The console is for administrators")


def test_an_anonymous_visitor_is_asked_to_sign_in_and_comes_back(page: Page) -> None:
    page.goto("/console/audit/verify")
    assert "/signin?next=" in page.url
    form = page.locator("form[action='/signin']")
    form.get_by_label("Name", exact=True).fill("ops")
    form.locator("input[name='role'][value='admin']").check()
    form.get_by_role("button").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify the audit chain")
