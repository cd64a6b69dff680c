"""The admin forms: the API's validation errors on the fields they concern (aria-invalid
and the message beside the input), what no input stands for above the form, success
messages, and the request each form sends."""

from __future__ import annotations

import re

import pytest
from test_console_fakes import FakeGateway, bad_request, console

from shopweb.console import forms, products, stock
from shopweb.gateway import ApiError

PRODUCT = {
    "sku": "TEST-LAMP-1",
    "name": "Desk lamp",
    "description": "Bright.",
    "price": "19.90",
    "currency_code": "EUR",
    "categories": "home, lighting",
    "weight_grams": "800",
    "image_url": "https://images.example/lamp.jpg",
}


def invalid(html: str, name: str) -> str:
    """The message shown for input `name`, checking it is marked invalid and tied to it."""
    tag = re.search(rf'<(?:input|textarea|select) id="{name}"[^>]*>', html)
    assert tag, f"no input {name}"
    assert 'aria-invalid="true"' in tag.group(0)
    assert f"{name}-error" in tag.group(0)  # aria-describedby
    message = re.search(rf'<p id="{name}-error" class="field-error">([^<]*)</p>', html)
    assert message, f"no message for {name}"
    return message.group(1)


def test_violations_land_on_their_inputs_by_path() -> None:
    placed = forms.place(
        {
            "product.price.amount_minor": "must be >= 0",
            "product.categories[1]": "not a slug",
            "product.categories[3]": "too long",
            "product.name": "required",
            "idempotency_key": "must be a UUID",
            "": "end_time must be after start_time",
        },
        products.INPUTS,
        prefix="product.",
        aliases=products.ALIASES,
    )
    assert placed.by_field == {
        "price": "must be >= 0",
        "categories": "not a slug; too long",
        "name": "required",
    }
    assert placed.general == [
        "idempotency_key: must be a UUID",
        "end_time must be after start_time",
    ]


@pytest.mark.parametrize(
    ("price", "currency", "minor"),
    [("29.90", "EUR", 2990), ("29,9", "EUR", 2990), ("1200", "JPY", 1200), ("0", "USD", 0)],
)
def test_prices_become_minor_units(price: str, currency: str, minor: int) -> None:
    assert products.minor_units(price, currency) == minor


@pytest.mark.parametrize(
    ("price", "currency"), [("29.999", "EUR"), ("12.5", "JPY"), ("x", "EUR"), ("inf", "EUR")]
)
def test_what_a_currency_cannot_express_is_no_price(price: str, currency: str) -> None:
    assert products.minor_units(price, currency) is None


def test_a_product_the_api_refuses_shows_each_complaint_on_its_field() -> None:
    refusal = bad_request(
        ("product.categories[0]", "does not match regex pattern"),
        ("product.image_url", "does not have prefix `https://`"),
        ("product.price.currency_code", "must be one of the settled currencies"),
    )
    fake = FakeGateway({("POST", "/admin/v1/products"): refusal})
    with console(fake) as client:
        page = client.post("/console/products", data=PRODUCT | {"categories": "Bad Cat"})
    assert page.status_code == 400
    assert invalid(page.text, "categories") == "does not match regex pattern"
    assert invalid(page.text, "image_url") == "does not have prefix `https://`"
    assert invalid(page.text, "currency_code") == "must be one of the settled currencies"
    assert 'value="Bad Cat"' in page.text  # what was typed stays
    assert "aria-invalid" not in re.search(r'<input id="name"[^>]*>', page.text).group(0)  # type: ignore[union-attr]


def test_a_saved_product_says_so_and_the_request_is_the_products_json() -> None:
    saved = {
        "product": {
            "sku": "TEST-LAMP-1",
            "name": "Desk lamp",
            "version": "2",
            "price": {"currency_code": "EUR", "amount_minor": "1990"},
        }
    }
    fake = FakeGateway({("POST", "/admin/v1/products"): (200, saved)})
    with console(fake) as client:
        page = client.post("/console/products", data=PRODUCT | {"idempotency_key": "k-1"})
    assert page.status_code == 200
    assert "Saved TEST-LAMP-1 (version 2)." in page.text
    (body,) = fake.bodies("/admin/v1/products")
    assert body == {
        "idempotency_key": "k-1",
        "product": {
            "sku": "TEST-LAMP-1",
            "name": "Desk lamp",
            "description": "Bright.",
            "price": {"currency_code": "EUR", "amount_minor": "1990"},
            "categories": ["home", "lighting"],
            "weight_grams": 800,
            "image_url": "https://images.example/lamp.jpg",
        },
    }


def test_what_cannot_be_a_request_is_refused_before_calling_the_api() -> None:
    fake = FakeGateway()
    with console(fake) as client:
        page = client.post(
            "/console/products", data=PRODUCT | {"price": "19.999", "weight_grams": "heavy"}
        )
    assert page.status_code == 400
    assert "at most two decimals" in invalid(page.text, "price")
    assert invalid(page.text, "weight_grams") == "must be a whole number"
    assert fake.requests == []


def test_a_product_loads_into_the_form() -> None:
    product = {
        "sku": "BK-1",
        "name": "Birds",
        "price": {"currency_code": "JPY", "amount_minor": "1200"},
        "categories": ["books", "outdoor"],
        "weight_grams": 720,
        "image_url": "https://i/b.jpg",
    }
    fake = FakeGateway({("GET", "/v1/products/BK-1"): (200, {"product": product})})
    with console(fake) as client:
        page = client.get("/console/products", params={"sku": "bk-1"})
    assert 'id="price" name="price" type="text" value="1200"' in page.text
    assert 'value="books, outdoor"' in page.text
    assert "<option selected>JPY</option>" in page.text


def test_a_stock_adjustment_below_what_is_reserved_is_shown_on_the_delta() -> None:
    refusal = (
        409,
        {
            "code": 9,
            "message": "adjusting BK-1 by -50 would leave -6 on hand with 0 reserved",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ADJUSTMENT_BELOW_RESERVED",
                }
            ],
        },
    )
    fake = FakeGateway({("POST", "/admin/v1/stock/BK-1:adjust"): refusal})
    with console(fake) as client:
        page = client.post(
            "/console/stock", data={"sku": "bk-1", "delta": "-50", "reason": "count"}
        )
    assert page.status_code == 409
    assert invalid(page.text, "delta").startswith("adjusting BK-1 by -50")


def test_stock_validation_errors_land_on_their_fields_and_success_is_said() -> None:
    fake = FakeGateway(
        {
            ("POST", "/admin/v1/stock/BK-1:adjust"): bad_request(
                ("reason", "must be at least 1 characters")
            )
        }
    )
    with console(fake) as client:
        refused = client.post("/console/stock", data={"sku": "BK-1", "delta": "5", "reason": ""})
        fake.replies[("POST", "/admin/v1/stock/BK-1:adjust")] = (
            200,
            {"stock_level": {"sku": "BK-1", "on_hand": 49, "reserved": 2, "available": 47}},
        )
        done = client.post(
            "/console/stock", data={"sku": "BK-1", "delta": "5", "reason": "receipt 4711"}
        )
        typo = client.post("/console/stock", data={"sku": "", "delta": "five", "reason": "x"})
    assert invalid(refused.text, "reason") == "must be at least 1 characters"
    assert "Adjusted BK-1 by +5: 49 on hand." in done.text
    assert fake.bodies("/admin/v1/stock/BK-1:adjust")[-1]["delta"] == 5
    assert invalid(typo.text, "sku") == "which SKU?"
    assert invalid(typo.text, "delta") == "must be a whole number"


def test_a_refusal_without_fields_is_said_above_the_form() -> None:
    placed = stock.refusal(ApiError(404, 5, "no such SKU", reason="NOT_FOUND"))
    assert placed.general == ["no such SKU"]
    assert not placed.by_field
