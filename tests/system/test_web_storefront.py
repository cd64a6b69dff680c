"""The storefront in a real browser against the whole stack: a customer finds products,
checks out with the simulated processor's test cards and watches the order settle; a
declined card is rejected without a charge; another customer's order is a 404; an anonymous
visitor is asked to sign in at checkout. Every page is checked with axe-core, and the
README's storefront screenshots are taken here."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from shoptools.mesh.jwt import mint_token

from .browser import CheckAccessibility, Screenshot, SignIn
from .harness import Stack

ORDER_PATH = re.compile(r"/shop/orders/[0-9a-f-]{36}$")
SETTLE_TIMEOUT_MS = 60_000  # a saga of three steps and an email, on a loaded machine


BOUGHT = ("BK-BIRDS-EUROPE", "KIT-FRENCH-PRESS-1L", "HOF-NOTEBOOK-A5")  # of the seed catalog


@pytest.fixture(scope="module", autouse=True)
def in_stock(full_stack: Stack) -> None:
    """What these tests buy is in stock, whatever the session's other tests sold or
    adjusted (goods received, through the admin API)."""
    token = mint_token(full_stack.topology.pki_dir, "storefront-tests", "admin")
    with httpx.Client(base_url=full_stack.gateway, timeout=30) as api:
        for sku in BOUGHT:
            received = api.post(
                f"/admin/v1/stock/{sku}:adjust",
                json={"idempotency_key": str(uuid.uuid4()), "delta": 20, "reason": "received"},
                headers={"authorization": f"Bearer {token}"},
            )
            assert received.is_success, received.text


def customer_name(role: str) -> str:
    """A name of its own per test, so one test's orders and emails never show in another's."""
    return f"{role}-{uuid.uuid4().hex[:8]}"


def add_to_cart(page: Page, product_name: str, quantity: int = 1) -> None:
    """On a product page: choose the quantity and add; lands on the cart."""
    expect(page.get_by_role("heading", level=1, name=product_name)).to_be_visible()
    page.get_by_label("Quantity").select_option(str(quantity))
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", level=1, name="Your cart")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"Added {product_name}")


def search_and_open(page: Page, query: str, sku: str) -> None:
    """Searches, then opens the product with that SKU among the results (other tests of
    the session add products, some with the same names)."""
    page.get_by_role("searchbox", name="Search products").fill(query)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(query)
    page.locator(f"a[href='/shop/products/{sku}']").first.click()


def fill_address(page: Page, name: str) -> None:
    page.get_by_label("Full name").fill(name.title())
    page.get_by_label("Street and number").fill("Invalidenstraße 116")
    page.get_by_label("City").fill("Berlin")
    page.get_by_label("Postal code").fill("10115")
    page.get_by_label("Country code").fill("DE")
    page.get_by_role("button", name="Show delivery options").click()
    expect(page.get_by_role("group", name="Delivery")).to_be_visible()


def pay(page: Page, card_label: str) -> str:
    """Choose standard delivery and the test card, place the order; returns the total the
    page showed, after landing on the order's page."""
    standard = page.get_by_label(re.compile(r"^Standard delivery"))
    standard.check()
    total = re.search(r"Total to pay: (\S+)", standard.evaluate("e => e.labels[0].innerText"))
    assert total, "the delivery option shows the total to pay"
    page.get_by_label(card_label).check()
    page.get_by_role("button", name="Place order").click()
    page.wait_for_url(ORDER_PATH)
    return total.group(1)


def buy_one(page: Page, name: str, sku: str, product_name: str, card_label: str) -> str:
    """Signed in: one unit of `sku` through checkout; returns the order page's path."""
    page.goto(f"/shop/products/{sku}")
    add_to_cart(page, product_name)
    page.get_by_role("link", name="Checkout").click()
    fill_address(page, name)
    pay(page, card_label)
    return urlsplit(page.url).path


def test_a_customer_finds_products_checks_out_and_sees_the_order_confirmed(
    page: Page, sign_in: SignIn, check_accessibility: CheckAccessibility, screenshot: Screenshot
) -> None:
    name = customer_name("buyer")
    sign_in(page, name, "customer", "/shop/emails")
    page.get_by_label("Send me emails about my orders").check()
    page.get_by_label("Email address").fill(f"{name}@example.com")
    page.get_by_role("button", name="Save email preferences").click()
    expect(page.get_by_role("status")).to_have_text("Your email preferences are saved.")
    check_accessibility(page)

    page.get_by_role("link", name="Products", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Products")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "storefront-products")

    search_and_open(page, "birds", "BK-BIRDS-EUROPE")
    expect(page.get_by_text(re.compile(r"In stock|left in stock"))).to_be_visible()
    expect(
        page.get_by_role("img", name="Picture of Field Guide to the Birds of Europe")
    ).to_be_visible()
    check_accessibility(page)
    screenshot(page, "storefront-product")
    add_to_cart(page, "Field Guide to the Birds of Europe", quantity=2)

    search_and_open(page, "french press", "KIT-FRENCH-PRESS-1L")
    add_to_cart(page, "French Press 1 l")
    cart = page.get_by_role("table")
    expect(cart.get_by_role("rowheader", name="Field Guide to the Birds of Europe")).to_be_visible()
    expect(cart.get_by_role("rowheader", name="French Press 1 l")).to_be_visible()
    expect(cart.get_by_role("rowheader", name="Subtotal")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "storefront-cart")

    page.get_by_role("link", name="Checkout").click()
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    fill_address(page, name)
    expect(page.get_by_label("Visa test card")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "storefront-checkout")
    total = pay(page, "Visa test card")

    status = page.get_by_role("status").first
    expect(status).to_contain_text("Confirmed", timeout=SETTLE_TIMEOUT_MS)
    expect(page.locator("#payment-status")).to_have_text(f"Charged: {total}")
    emails = page.get_by_role("region", name="Emails about this order")
    confirmation = emails.get_by_role("article").filter(
        has=page.get_by_role("heading", name=re.compile(r"is confirmed"))
    )
    expect(confirmation).to_contain_text(total.replace("€", "EUR "), timeout=SETTLE_TIMEOUT_MS)
    expect(confirmation).to_contain_text("Sent, ", timeout=SETTLE_TIMEOUT_MS)
    check_accessibility(page)
    screenshot(page, "storefront-order-confirmed")

    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Your orders")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=total)).to_contain_text(
        "Confirmed", timeout=SETTLE_TIMEOUT_MS
    )
    check_accessibility(page)
    page.get_by_role("link", name="Emails", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(r"is confirmed"))).to_be_visible()
    check_accessibility(page)


def test_a_declined_card_rejects_the_order_with_the_reason_and_no_charge(
    page: Page, sign_in: SignIn, check_accessibility: CheckAccessibility, screenshot: Screenshot
) -> None:
    name = customer_name("declined")
    sign_in(page, name, "customer")

    buy_one(page, name, "HOF-NOTEBOOK-A5", "Dotted Notebook A5", "Declined card")

    expect(page.get_by_role("status").first).to_contain_text("Rejected", timeout=SETTLE_TIMEOUT_MS)
    expect(page.locator("#rejection-reason")).to_contain_text("Your card was declined")
    expect(page.locator("#payment-status")).to_have_text(re.compile(r"^Not charged"))
    expect(page.get_by_role("region", name="Cancel this order")).to_be_hidden()
    check_accessibility(page)
    screenshot(page, "storefront-order-rejected")


def test_a_total_that_changed_since_the_page_showed_it_is_refused_and_shown(
    page: Page, sign_in: SignIn, check_accessibility: CheckAccessibility
) -> None:
    name = customer_name("repriced")
    sign_in(page, name, "customer", "/shop/products/HOF-NOTEBOOK-A5")
    add_to_cart(page, "Dotted Notebook A5")
    page.get_by_role("link", name="Checkout").click()
    fill_address(page, name)
    # As if the price rose after the page was drawn: the total the page showed is a cent less
    # than what orders computes now.
    page.locator("input[name='total-SHIPPING_SPEED_STANDARD']").evaluate(
        "e => { e.value = String(Number(e.value) - 1); }"
    )
    page.get_by_label(re.compile(r"^Standard delivery")).check()
    page.get_by_label("Visa test card").check()
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("alert")).to_contain_text("The total changed since you saw it")
    expect(page.get_by_role("alert")).to_contain_text("nothing was ordered or charged")
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    check_accessibility(page)
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page.get_by_text("You have not ordered anything yet.")).to_be_visible()


def test_submitting_the_same_checkout_twice_places_one_order(page: Page, sign_in: SignIn) -> None:
    name = customer_name("twice")
    sign_in(page, name, "customer", "/shop/products/HOF-NOTEBOOK-A5")
    add_to_cart(page, "Dotted Notebook A5")
    page.get_by_role("link", name="Checkout").click()
    fill_address(page, name)
    page.get_by_label(re.compile(r"^Standard delivery")).check()
    page.get_by_label("Visa test card").check()
    fields = page.locator("form.checkout").evaluate("f => Object.fromEntries(new FormData(f))")

    # Two presses of "Place order" with the same page (the browser context's cookies).
    first = page.request.post("/shop/checkout/place", form=fields, max_redirects=0)
    second = page.request.post("/shop/checkout/place", form=fields, max_redirects=0)

    assert first.status == second.status == 303
    assert ORDER_PATH.search(first.headers["location"])
    assert first.headers["location"] == second.headers["location"]
    page.goto("/shop/orders")
    expect(page.get_by_role("row").filter(has=page.get_by_role("link"))).to_have_count(1)


def test_a_customer_cannot_see_another_customers_order(
    page: Page, sign_in: SignIn, check_accessibility: CheckAccessibility
) -> None:
    owner = customer_name("owner")
    sign_in(page, owner, "customer")
    order_path = buy_one(page, owner, "HOF-NOTEBOOK-A5", "Dotted Notebook A5", "Visa test card")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, customer_name("other"), "customer")
    response = page.goto(order_path)

    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1, name="Not found")).to_be_visible()
    expect(page.get_by_text(owner.title())).to_have_count(0)
    check_accessibility(page)


def test_an_anonymous_visitor_is_asked_to_sign_in_at_checkout(
    page: Page, check_accessibility: CheckAccessibility
) -> None:
    page.goto("/shop/products/HOF-NOTEBOOK-A5")
    add_to_cart(page, "Dotted Notebook A5")
    page.get_by_role("link", name="Checkout").click()

    page.wait_for_url(re.compile(r"/signin\?next=%2Fshop%2Fcheckout$"))
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    page.get_by_label("Name", exact=True).fill(customer_name("visitor"))
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(re.compile(r"/shop/checkout$"))
    expect(page.get_by_role("heading", level=1, name="Checkout")).to_be_visible()
    expect(page.get_by_role("rowheader", name="Dotted Notebook A5")).to_be_visible()
    check_accessibility(page)


def assert_fits(page: Page) -> None:
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px"


def test_the_storefront_works_at_phone_width(
    phone_page: Page,
    sign_in: SignIn,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    for path in ("/shop/", "/shop/search?q=tent", "/shop/products/OUT-TENT-2P"):
        phone_page.goto(path)
        expect(phone_page.get_by_role("heading", level=1)).to_be_visible()
        assert_fits(phone_page)
        check_accessibility(phone_page)
    screenshot(phone_page, "storefront-phone-product")

    name = customer_name("phone")
    sign_in(phone_page, name, "customer", "/shop/products/OUT-TENT-2P")
    add_to_cart(phone_page, "Two-Person Backpacking Tent")
    assert_fits(phone_page)
    check_accessibility(phone_page)
    phone_page.get_by_role("link", name="Checkout").click()
    fill_address(phone_page, name)
    assert_fits(phone_page)
    check_accessibility(phone_page)
    screenshot(phone_page, "storefront-phone-checkout")
