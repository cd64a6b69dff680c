"""The storefront's pages against a fake gateway (httpx.MockTransport): what they ask the
API, and how they show its answers and refusals."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from starlette.testclient import TestClient

from shopweb.app import create_app
from shopweb.gateway import Gateway
from shopweb.session import COOKIE as TOKEN_COOKIE
from shopweb.settings import WebSettings
from shopweb.storefront.cart import COOKIE as CART_COOKIE
from shopweb.storefront.consistency import COOKIE as CONSISTENCY_COOKIE

GATEWAY = "http://gateway.test"
ORDER_ID = "7aaa1b19-2772-589f-b927-4e3d7c83327f"
Handler = Callable[[httpx.Request], httpx.Response]


def eur(minor: int) -> dict[str, str]:
    return {"currency_code": "EUR", "amount_minor": str(minor)}


PRODUCTS = {
    "BK-BIRDS-EUROPE": {
        "sku": "BK-BIRDS-EUROPE",
        "name": "Field Guide to the Birds of Europe",
        "description": "Compact guide.",
        "price": eur(2990),
        "categories": ["books", "outdoor"],
        "weight_grams": 720,
        "image_url": "https://images.shopmesh.example/nowhere.jpg",
        "version": "4",
    },
    "KIT-FRENCH-PRESS-1L": {
        "sku": "KIT-FRENCH-PRESS-1L",
        "name": "French Press 1 l",
        "price": eur(3290),
        "categories": ["kitchen"],
        "weight_grams": 900,
        "image_url": "https://images.shopmesh.example/nowhere.jpg",
        "version": "1",
    },
}


def status_error(
    http_status: int,
    code: int,
    message: str,
    reason: str = "",
    fields: dict[str, str] | None = None,
) -> httpx.Response:
    details: list[dict[str, Any]] = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason})
    if fields:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": f, "description": d} for f, d in fields.items()],
            }
        )
    return httpx.Response(http_status, json={"code": code, "message": message, "details": details})


def order(status: str = "ORDER_STATUS_PENDING", **extra: Any) -> dict[str, Any]:
    return {
        "order_id": ORDER_ID,
        "customer_id": "alice",
        "status": status,
        "lines": [
            {
                "sku": "BK-BIRDS-EUROPE",
                "name": "Field Guide to the Birds of Europe",
                "quantity": 2,
                "unit_price": eur(2990),
                "line_total": eur(5980),
            }
        ],
        "subtotal": eur(5980),
        "shipping_cost": eur(699),
        "total": eur(6679),
        "shipping_speed": "SHIPPING_SPEED_STANDARD",
        **extra,
    }


@dataclass
class FakeApi:
    """The gateway's REST API as far as the storefront uses it; `overrides` answer a
    (method, path) differently, and every request is kept."""

    stock: dict[str, int] = field(default_factory=lambda: {"BK-BIRDS-EUROPE": 45})
    order: dict[str, Any] = field(default_factory=order)
    emails: list[dict[str, Any]] = field(default_factory=list)
    preferences: dict[str, Any] = field(
        default_factory=lambda: {"sms_enabled": True, "phone_e164": "+4915112345678"}
    )
    overrides: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]

    def body(self, method: str, path: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.sent(method, path)[-1].content)
        return found

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        method, path = request.method, request.url.path
        if (method, path) in self.overrides:
            return self.overrides[method, path](request)
        for route_method, pattern, answer in self._routes():
            if route_method == method and (match := re.fullmatch(pattern, path)):
                return answer(request, *match.groups())
        return httpx.Response(404, text="not routed")

    def _routes(self) -> list[tuple[str, str, Callable[..., httpx.Response]]]:
        return [
            ("GET", "/v1/products", self._list),
            ("GET", "/v1/products:search", self._search),
            ("GET", "/v1/products/([^/]+)", self._product),
            ("GET", "/v1/stock/([^/]+)", self._stock),
            ("POST", "/v1/shipping:quote", lambda _: ok({"options": QUOTE})),
            (
                "POST",
                "/v1/orders",
                lambda _: ok({"order": self.order, "consistency_token": "ct-1"}),
            ),
            ("GET", "/v1/orders", lambda _: ok({"orders": [self.order]})),
            ("GET", "/v1/orders/([^/:]+)", self._order),
            ("POST", "/v1/orders/([^/:]+):cancel", self._cancel),
            ("GET", "/v1/notifications", lambda _: ok({"notifications": self.emails})),
            ("GET", "/v1/notification-preferences", self._preferences),
            ("PUT", "/v1/notification-preferences", self._set_preferences),
        ]

    def _place(self, _: httpx.Request) -> httpx.Response:
        return ok({"order": self.order, "consistency_token": "ct-1"})

    def _preferences(self, _: httpx.Request) -> httpx.Response:
        return ok({"preferences": self.preferences | {"version": "3"}})

    def _set_preferences(self, request: httpx.Request) -> httpx.Response:
        self.preferences = json.loads(request.content)["preferences"]
        return ok({"preferences": self.preferences})

    def _list(self, _: httpx.Request) -> httpx.Response:
        return ok({"products": list(PRODUCTS.values())})

    def _search(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"].lower()
        return ok({"products": [p for p in PRODUCTS.values() if query in str(p["name"]).lower()]})

    def _product(self, _: httpx.Request, sku: str) -> httpx.Response:
        if sku not in PRODUCTS:
            return status_error(404, 5, f"no product {sku}", "PRODUCT_NOT_FOUND")
        return ok({"product": PRODUCTS[sku]})

    def _stock(self, _: httpx.Request, sku: str) -> httpx.Response:
        if sku not in self.stock:
            return status_error(404, 5, "no stock level", "STOCK_LEVEL_NOT_FOUND")
        return ok({"stock_level": {"sku": sku, "available": self.stock[sku]}})

    def _order(self, _: httpx.Request, order_id: str) -> httpx.Response:
        if order_id != ORDER_ID:
            return status_error(404, 5, "no such order", "ORDER_NOT_FOUND")
        return ok({"order": self.order})

    def _cancel(self, _: httpx.Request, order_id: str) -> httpx.Response:
        cancelling = self.order | {"status": "ORDER_STATUS_CANCELLING"}
        return ok({"order": cancelling, "consistency_token": "ct-2"})


def ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


QUOTE = [
    {
        "service_level": "SERVICE_LEVEL_STANDARD",
        "price": eur(699),
        "min_days": 1,
        "max_days": 3,
    },
    {
        "service_level": "SERVICE_LEVEL_EXPRESS",
        "price": eur(1699),
        "min_days": 1,
        "max_days": 1,
    },
]
ADDRESS = {
    "recipient": "Alice Liddell",
    "line1": "Invalidenstraße 116",
    "line2": "",
    "locality": "Berlin",
    "region": "",
    "postal_code": "10115",
    "country_code": "de",
}


@pytest.fixture
def storefront_api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def storefront_client(storefront_api: FakeApi) -> TestClient:
    """An anonymous visitor (no lifespan: the fake gateway is put in place instead)."""
    app = create_app(WebSettings(GATEWAY))
    app.state.gateway = Gateway(GATEWAY, transport=httpx.MockTransport(storefront_api))
    return TestClient(app, follow_redirects=False)


def put_cookie(client: TestClient, name: str, value: str) -> None:
    """As the pages would have set it (same domain and path), so theirs replaces it."""
    client.cookies.set(name, value, domain="testserver.local", path="/shop")


def sign_in(client: TestClient, name: str = "alice") -> str:
    """A token the pages read (they never verify it: the gateway does)."""
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    token = jwt.encode({"sub": name, "role": "customer", "exp": expires}, "k" * 32, "HS256")
    client.cookies.set(TOKEN_COOKIE, token)
    return token


def test_the_catalog_lists_products_with_local_pictures_and_categories(
    storefront_client: TestClient,
) -> None:
    page = storefront_client.get("/shop/")

    assert page.status_code == 200
    assert "<title>Products · Shopmesh</title>" in page.text
    assert 'src="/shop/images/BK-BIRDS-EUROPE.svg?v=4"' in page.text
    assert "images.shopmesh.example" not in page.text
    assert 'href="/shop/?category=garden-tools"' not in page.text
    assert 'href="/shop/?category=kitchen"' in page.text


def test_search_asks_the_catalog_and_an_empty_one_goes_home(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    found = storefront_client.get("/shop/search", params={"q": "press"})
    empty = storefront_client.get("/shop/search", params={"q": "  "})

    assert "French Press 1 l" in found.text
    assert "Birds" not in found.text
    assert storefront_api.sent("GET", "/v1/products:search")[0].url.params["query"] == "press"
    assert empty.status_code == 303
    assert empty.headers["location"] == "/shop/"


def test_a_product_shows_its_price_and_live_availability(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    in_stock = storefront_client.get("/shop/products/BK-BIRDS-EUROPE")
    storefront_api.stock["BK-BIRDS-EUROPE"] = 2
    low = storefront_client.get("/shop/products/BK-BIRDS-EUROPE")
    never_stocked = storefront_client.get("/shop/products/KIT-FRENCH-PRESS-1L")

    assert "<title>Field Guide to the Birds of Europe · Shopmesh</title>" in in_stock.text
    assert "€29.90" in in_stock.text
    assert "In stock (45 available)" in in_stock.text
    assert "Only 2 left in stock" in low.text
    assert "Out of stock" in never_stocked.text
    assert "Add to cart" not in never_stocked.text
    assert len(storefront_api.sent("GET", "/v1/stock/BK-BIRDS-EUROPE")) == 2  # never cached


@pytest.mark.parametrize("sku", ["NOPE-NOPE", "lower-case", "%2E%2E"])
def test_an_unknown_product_is_a_404_page(storefront_client: TestClient, sku: str) -> None:
    page = storefront_client.get(f"/shop/products/{sku}")
    assert page.status_code == 404
    assert "<title>Not found · Shopmesh</title>" in page.text


def test_a_picture_is_an_svg_cached_for_long(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    picture = storefront_client.get("/shop/images/KIT-FRENCH-PRESS-1L.svg?v=1")
    again = storefront_client.get("/shop/images/KIT-FRENCH-PRESS-1L.svg?v=1")
    missing = storefront_client.get("/shop/images/NOPE-NOPE.svg")

    assert picture.headers["content-type"].startswith("image/svg+xml")
    assert "max-age=31536000" in picture.headers["cache-control"]
    assert "<title>French Press 1 l</title>" in picture.text
    assert again.text == picture.text
    assert len(storefront_api.sent("GET", "/v1/products/KIT-FRENCH-PRESS-1L")) == 1
    assert missing.status_code == 404


def test_the_cart_adds_changes_and_removes_lines_in_its_cookie(
    storefront_client: TestClient,
) -> None:
    storefront_client.post("/shop/cart/add", data={"sku": "BK-BIRDS-EUROPE", "quantity": "2"})
    added = storefront_client.post(
        "/shop/cart/add", data={"sku": "KIT-FRENCH-PRESS-1L", "quantity": "1"}
    )
    assert added.headers["location"] == "/shop/cart?added=KIT-FRENCH-PRESS-1L"
    page = storefront_client.get("/shop/cart?added=KIT-FRENCH-PRESS-1L")
    assert "Added French Press 1 l to your cart." in page.text
    assert "€92.70" in page.text  # 2 x 29.90 + 32.90
    assert 'Cart <span class="badge">(3' in page.text

    storefront_client.post("/shop/cart/update", data={"quantity-BK-BIRDS-EUROPE": "1"})
    storefront_client.post("/shop/cart/remove", data={"sku": "KIT-FRENCH-PRESS-1L"})

    assert storefront_client.cookies[CART_COOKIE] == "BK-BIRDS-EUROPE:1"


def test_a_product_the_catalog_lost_leaves_the_cart(storefront_client: TestClient) -> None:
    put_cookie(storefront_client, CART_COOKIE, "BK-BIRDS-EUROPE:1.GONE-FOR-GOOD:2")
    page = storefront_client.get("/shop/cart")
    assert "no longer sold" in page.text
    assert storefront_client.cookies[CART_COOKIE] == "BK-BIRDS-EUROPE:1"


def test_an_anonymous_visitor_is_asked_to_sign_in_at_checkout(
    storefront_client: TestClient,
) -> None:
    put_cookie(storefront_client, CART_COOKIE, "BK-BIRDS-EUROPE:1")
    answer = storefront_client.get("/shop/checkout")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fshop%2Fcheckout"


def quote_page(client: TestClient) -> str:
    sign_in(client)
    put_cookie(client, CART_COOKIE, "BK-BIRDS-EUROPE:2")
    page = client.post("/shop/checkout/quote", data=ADDRESS)
    assert page.status_code == 200, page.text
    text: str = page.text
    return text


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, f"no hidden field {name}"
    return found.group(1)


def test_checkout_shows_the_total_per_speed_and_the_test_cards(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    page = quote_page(storefront_client)

    quoted = storefront_api.body("POST", "/v1/shipping:quote")
    assert quoted["destination"]["country_code"] == "DE"
    assert quoted["destination"]["lines"] == ["Invalidenstraße 116"]
    assert "Total to pay: €66.79" in page  # 59.80 + 6.99
    assert "Total to pay: €76.79" in page
    assert hidden(page, "total-SHIPPING_SPEED_STANDARD") == "6679"
    assert "tok_visa" in page
    assert "tok_declined" in page
    uuid.UUID(hidden(page, "idempotency_key"))


def test_placing_sends_the_total_shown_and_the_pages_key(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    page = quote_page(storefront_client)
    form = ADDRESS | {
        "cart": hidden(page, "cart"),
        "idempotency_key": hidden(page, "idempotency_key"),
        "currency": "EUR",
        "total-SHIPPING_SPEED_STANDARD": hidden(page, "total-SHIPPING_SPEED_STANDARD"),
        "total-SHIPPING_SPEED_EXPRESS": hidden(page, "total-SHIPPING_SPEED_EXPRESS"),
        "speed": "SHIPPING_SPEED_EXPRESS",
        "payment_token": "tok_visa",
    }

    first = storefront_client.post("/shop/checkout/place", data=form)
    storefront_client.post("/shop/checkout/place", data=form)  # a double submit

    placed = [json.loads(r.content) for r in storefront_api.sent("POST", "/v1/orders")]
    assert first.status_code == 303
    assert first.headers["location"] == f"/shop/orders/{ORDER_ID}"
    assert placed[0]["expected_total"] == eur(7679)
    assert placed[0]["shipping_speed"] == "SHIPPING_SPEED_EXPRESS"
    assert placed[0]["payment_token"] == "tok_visa"
    assert placed[0]["lines"] == [{"sku": "BK-BIRDS-EUROPE", "quantity": 2}]
    assert placed[0]["idempotency_key"] == placed[1]["idempotency_key"] == form["idempotency_key"]
    assert CART_COOKIE not in storefront_client.cookies
    assert storefront_client.cookies[CONSISTENCY_COOKIE].strip('"') == f"{ORDER_ID}~ct-1"


def test_a_changed_price_is_refused_and_shown_with_the_new_total(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    page = quote_page(storefront_client)
    storefront_api.overrides["POST", "/v1/orders"] = lambda _: status_error(
        400, 9, "the total is now 6529 EUR", "PRICE_CHANGED", {"expected_total": "changed"}
    )
    key = hidden(page, "idempotency_key")
    answer = storefront_client.post(
        "/shop/checkout/place",
        data=ADDRESS
        | {
            "cart": "BK-BIRDS-EUROPE:2",
            "idempotency_key": key,
            "currency": "EUR",
            "total-SHIPPING_SPEED_STANDARD": "6000",
            "speed": "SHIPPING_SPEED_STANDARD",
            "payment_token": "tok_visa",
        },
    )

    assert answer.status_code == 409
    assert "The total changed since you saw it (€60.00)" in answer.text
    assert "Total to pay: €66.79" in answer.text
    assert hidden(answer.text, "idempotency_key") != key


def test_the_apis_field_errors_are_shown_beside_the_fields(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    storefront_api.overrides["POST", "/v1/shipping:quote"] = lambda _: status_error(
        400,
        3,
        "invalid request",
        fields={"destination.postal_code": "must be at least 2 characters"},
    )
    sign_in(storefront_client)
    put_cookie(storefront_client, CART_COOKIE, "BK-BIRDS-EUROPE:2")

    page = storefront_client.post("/shop/checkout/quote", data=ADDRESS | {"postal_code": "1"})

    assert page.status_code == 400
    assert 'aria-describedby="postal_code-error"' in page.text
    assert '<p class="field-error" id="postal_code-error">must be at least 2' in page.text
    assert "Place order" not in page.text


def test_a_rejected_order_says_why_in_words_and_that_nothing_was_charged(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    storefront_api.order = order(
        "ORDER_STATUS_REJECTED", rejection_reason="REJECTION_REASON_PAYMENT_DECLINED"
    )
    sign_in(storefront_client)
    page = storefront_client.get(f"/shop/orders/{ORDER_ID}")

    assert "<title>Order 7aaa1b19 · Shopmesh</title>" in page.text
    assert "Rejected" in page.text
    assert "Your card was declined" in page.text
    assert "REJECTION_REASON" not in page.text
    assert "Not charged" in page.text
    assert '<section id="cancel-order" aria-labelledby="cancel-heading" class="card" hidden>' in (
        page.text
    )


def test_the_order_page_reads_with_the_last_consistency_token(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    sign_in(storefront_client)
    put_cookie(storefront_client, CONSISTENCY_COOKIE, f"{ORDER_ID}~ct-1")
    page = storefront_client.get(f"/shop/orders/{ORDER_ID}")
    live = storefront_client.get(f"/shop/orders/{ORDER_ID}/live")

    assert (
        storefront_api.sent("GET", f"/v1/orders/{ORDER_ID}")[0].url.params["consistency_token"]
        == "ct-1"
    )
    assert 'data-settled="false"' in page.text
    assert '<noscript><meta http-equiv="refresh"' in page.text
    assert live.headers["cache-control"] == "no-store"
    assert live.text.lstrip().startswith('<div id="order-live"')


def test_another_customers_order_is_a_404_page(storefront_client: TestClient) -> None:
    sign_in(storefront_client, "mallory")
    other = storefront_client.get("/shop/orders/00000000-0000-4000-8000-000000000000")
    malformed = storefront_client.get("/shop/orders/not-an-id")

    assert other.status_code == 404
    assert "There is no such order among yours." in other.text
    assert malformed.status_code == 404


def test_history_not_caught_up_shows_updating_and_retries(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    storefront_api.overrides["GET", "/v1/orders"] = lambda _: status_error(
        400, 9, "not yet", "VIEW_NOT_CAUGHT_UP"
    )
    sign_in(storefront_client)
    put_cookie(storefront_client, CONSISTENCY_COOKIE, f"{ORDER_ID}~ct-1")

    page = storefront_client.get("/shop/orders")

    assert page.status_code == 200
    assert "updating…" in page.text
    assert '<meta http-equiv="refresh" content="1">' in page.text
    assert storefront_api.sent("GET", "/v1/orders")[0].url.params["consistency_token"] == "ct-1"


def test_history_lists_the_orders(storefront_client: TestClient) -> None:
    sign_in(storefront_client)
    page = storefront_client.get("/shop/orders")
    assert "<title>Your orders · Shopmesh</title>" in page.text
    assert f'href="/shop/orders/{ORDER_ID}"' in page.text
    assert "€66.79" in page.text


def test_cancel_sends_a_key_and_shows_a_refusal(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    sign_in(storefront_client)
    done = storefront_client.post(
        f"/shop/orders/{ORDER_ID}/cancel", data={"idempotency_key": "x", "reason": "too slow"}
    )
    storefront_api.overrides["POST", f"/v1/orders/{ORDER_ID}:cancel"] = lambda _: status_error(
        400, 9, "rejected", "NOT_CANCELLABLE"
    )
    refused = storefront_client.post(f"/shop/orders/{ORDER_ID}/cancel", data={})

    body = storefront_api.body("POST", f"/v1/orders/{ORDER_ID}:cancel")
    assert done.headers["location"] == f"/shop/orders/{ORDER_ID}"
    uuid.UUID(body["idempotency_key"])
    assert (
        json.loads(storefront_api.sent("POST", f"/v1/orders/{ORDER_ID}:cancel")[0].content)[
            "reason"
        ]
        == "too slow"
    )
    assert refused.headers["location"] == f"/shop/orders/{ORDER_ID}?cancel=refused"


def test_the_emails_page_shows_what_was_sent(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    storefront_api.emails = [
        {
            "subject": "Your order 7AAA1B19 is confirmed",
            "body": "good news",
            "order_id": ORDER_ID,
            "status": "NOTIFICATION_STATUS_SENT",
            "send_time": "2026-12-03T16:46:00Z",
        }
    ]
    sign_in(storefront_client)
    page = storefront_client.get("/shop/emails")
    assert "<title>Emails · Shopmesh</title>" in page.text
    assert "Your order 7AAA1B19 is confirmed" in page.text
    assert "Sent, <time" in page.text


def test_turning_email_on_keeps_the_other_preferences(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    sign_in(storefront_client)
    page = storefront_client.get("/shop/emails")
    key = hidden(page.text, "idempotency_key")

    saved = storefront_client.post(
        "/shop/emails/preferences",
        data={"idempotency_key": key, "email_enabled": "on", "email": " alice@example.com "},
    )

    body = storefront_api.body("PUT", "/v1/notification-preferences")
    assert saved.headers["location"] == "/shop/emails?saved=1"
    assert body["idempotency_key"] == key
    assert body["preferences"] == {
        "sms_enabled": True,
        "phone_e164": "+4915112345678",
        "email_enabled": True,
        "email": "alice@example.com",
    }


def test_a_refused_email_address_is_shown_beside_its_field(
    storefront_client: TestClient, storefront_api: FakeApi
) -> None:
    storefront_api.overrides["PUT", "/v1/notification-preferences"] = lambda _: status_error(
        400, 3, "invalid", fields={"preferences.email": "is not a valid email address"}
    )
    sign_in(storefront_client)

    page = storefront_client.post(
        "/shop/emails/preferences", data={"email_enabled": "on", "email": "nope"}
    )

    assert page.status_code == 400
    assert '<p class="field-error" id="email-error">is not a valid email address' in page.text
    assert 'value="nope"' in page.text


def test_an_unreachable_gateway_is_a_try_again_page() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    app = create_app(WebSettings(GATEWAY))
    app.state.gateway = Gateway(GATEWAY, transport=httpx.MockTransport(unreachable))
    page = TestClient(app).get("/shop/")
    assert page.status_code == 503
    assert "try again" in page.text
