"""The storefront's pure parts: the cart cookie, money, totals, wording, pictures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shopweb.storefront import wording
from shopweb.storefront.cart import MAX_LINES, MAX_QUANTITY, Cart, CartFull, parse_cart
from shopweb.storefront.checkout_form import field_errors
from shopweb.storefront.images import Picture, PictureCache, initials, product_svg
from shopweb.storefront.money import Money, format_money, from_api
from shopweb.storefront.orders import cancellable, settled
from shopweb.storefront.pricing import (
    MixedCurrencies,
    delivery_options,
    priced_lines,
    subtotal,
)


def test_a_cart_survives_its_cookie() -> None:
    cart = Cart()
    cart.add("BK-BIRDS-EUROPE", 2)
    cart.add("KIT-FRENCH-PRESS-1L", 1)
    assert parse_cart(cart.serialize()).lines == {"BK-BIRDS-EUROPE": 2, "KIT-FRENCH-PRESS-1L": 1}


@pytest.mark.parametrize(
    ("raw", "lines"),
    [
        (None, {}),
        ("", {}),
        ("garbage", {}),
        ("bk-lower:1", {}),  # not a SKU
        ("AB:1", {}),  # too short for a SKU
        ("ABC:0.ABD:-1.ABE:x.ABF:", {}),
        ("ABC:1.ABC:2", {"ABC": 3}),  # a repeated SKU adds up
        ("ABC:999999999", {"ABC": MAX_QUANTITY}),
        ("ABC:1.<script>:1.DEF:2;x", {"ABC": 1}),
    ],
)
def test_a_tampered_cart_cookie_keeps_only_what_is_valid(
    raw: str | None, lines: dict[str, int]
) -> None:
    assert parse_cart(raw).lines == lines


def test_a_cart_is_bounded() -> None:
    raw = ".".join(f"SKU-{n:03d}:1" for n in range(MAX_LINES + 5))
    cart = parse_cart(raw)
    assert len(cart.lines) == MAX_LINES
    with pytest.raises(CartFull):
        cart.add("ONE-MORE", 1)
    cart.add("SKU-000", 50)  # a product already in the cart still takes more, capped
    assert cart.lines["SKU-000"] == MAX_QUANTITY
    assert len(cart.serialize()) < 1024


def test_setting_a_quantity_to_zero_removes_the_line() -> None:
    cart = parse_cart("ABC:2.DEF:1")
    cart.set_quantity("ABC", 0)
    cart.set_quantity("DEF", 40)
    cart.set_quantity("NOT-THERE", 3)
    assert cart.lines == {"DEF": MAX_QUANTITY}
    assert cart.units == MAX_QUANTITY


def test_money_reads_as_customers_write_it() -> None:
    assert format_money(Money("EUR", 9969)) == "€99.69"
    assert format_money(Money("USD", 123456)) == "$1,234.56"
    assert format_money(Money("CHF", 5)) == "CHF 0.05"
    assert format_money(Money("JPY", 1200)) == "¥1,200"
    assert format_money(None) == "—"
    assert from_api({"currency_code": "EUR", "amount_minor": "2990"}) == Money("EUR", 2990)
    assert from_api({"currency_code": "EUR"}) == Money("EUR", 0)  # proto3 omits a zero
    assert from_api(None) is None
    with pytest.raises(ValueError, match="cannot add"):
        _ = Money("EUR", 1) + Money("USD", 1)


def product(sku: str, minor: int, currency: str = "EUR") -> dict[str, object]:
    return {
        "sku": sku,
        "name": sku.title(),
        "price": {"currency_code": currency, "amount_minor": str(minor)},
        "version": "3",
    }


def test_the_total_per_delivery_speed_is_the_items_plus_that_speeds_price() -> None:
    cart = parse_cart("ABC:2.DEF:1.GONE:1")
    lines = priced_lines(cart, {"ABC": product("ABC", 2990), "DEF": product("DEF", 3290)})
    items = subtotal(lines)
    quote = {
        "options": [
            {
                "service_level": "SERVICE_LEVEL_STANDARD",
                "price": {"currency_code": "EUR", "amount_minor": "699"},
                "min_days": 1,
                "max_days": 3,
            },
            {
                "service_level": "SERVICE_LEVEL_EXPRESS",
                "price": {"currency_code": "EUR", "amount_minor": "1699"},
                "min_days": 1,
                "max_days": 1,
            },
            {"service_level": "SERVICE_LEVEL_UNSPECIFIED", "price": {"currency_code": "EUR"}},
            {
                "service_level": "SERVICE_LEVEL_EXPRESS",
                "price": {"currency_code": "USD", "amount_minor": "1"},
            },
        ]
    }
    options = delivery_options(quote, items)

    assert [line.sku for line in lines] == ["ABC", "DEF"]  # the catalog no longer has GONE
    assert items == Money("EUR", 9270)
    assert [(o.speed, o.total) for o in options] == [
        ("SHIPPING_SPEED_STANDARD", Money("EUR", 9969)),
        ("SHIPPING_SPEED_EXPRESS", Money("EUR", 10969)),
    ]
    assert [o.days for o in options] == ["1 to 3 business days", "1 business day"]


def test_one_order_pays_in_one_currency() -> None:
    cart = parse_cart("ABC:1.DEF:1")
    lines = priced_lines(cart, {"ABC": product("ABC", 1), "DEF": product("DEF", 1, "USD")})
    with pytest.raises(MixedCurrencies):
        subtotal(lines)


def test_the_apis_field_paths_land_on_the_forms_fields() -> None:
    errors = field_errors(
        {
            "destination.recipient": "must be at least 1 characters",
            "shipping_address.lines": "must contain at least 1 item(s)",
            "shipping_address.lines[1]": "too long",
            "destination.country_code": "does not match regex pattern `^[A-Z]{2}$`",
            "destination.locality": "does not match regex pattern `x`",
            "payment_token": "unknown token",
            "shipping_speed": "required",
            "expected_total": "the total is now 6529 EUR",
        }
    )
    assert errors == {
        "recipient": "Please fill this in.",
        "line1": "Please fill this in.",
        "line2": "too long",
        "country_code": "Two letters, for example DE, FR or US.",
        "locality": "does not match regex pattern `x`",
        "payment_token": "unknown token",
        "speed": "required",
        "general": "the total is now 6529 EUR",
    }


def test_every_rejection_reason_reads_as_a_sentence() -> None:
    reasons = [
        "REJECTION_REASON_PAYMENT_DECLINED",
        "REJECTION_REASON_OUT_OF_STOCK",
        "REJECTION_REASON_DESTINATION_NOT_SERVED",
        "REJECTION_REASON_PAYMENT_ERROR",
        "REJECTION_REASON_TIMED_OUT",
        "REJECTION_REASON_INTERNAL_ERROR",
    ]
    sentences = [wording.rejection_reason(reason) for reason in reasons]
    assert len(set(sentences)) == len(reasons)
    assert all(s[0].isupper() and s.endswith(".") and "_" not in s for s in sentences)
    assert "declined" in wording.rejection_reason("REJECTION_REASON_PAYMENT_DECLINED")
    assert wording.rejection_reason("REJECTION_REASON_NEW") == wording.UNKNOWN_REJECTION
    assert wording.payment_status("PAYMENT_STATUS_UNSPECIFIED") == "Not charged"
    assert wording.order_status("ORDER_STATUS_CONFIRMED") == "Confirmed"


def test_the_test_cards_are_the_simulated_processors() -> None:
    tokens = {card.token for card in wording.TEST_CARDS}
    assert {"tok_visa", "tok_mastercard", "tok_declined"} <= tokens
    assert len(tokens) == len(wording.TEST_CARDS)


def test_a_products_picture_is_deterministic_valid_svg_and_named() -> None:
    picture = Picture("BK-BIRDS-EUROPE", 'Birds & "Bees" <of> Europe', "books")
    svg = product_svg(picture)
    root = ET.fromstring(svg)  # well-formed despite the name's markup characters

    assert svg == product_svg(picture)
    assert svg != product_svg(Picture("BK-OTHER", picture.name, "books"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == picture.name
    assert root.find("{http://www.w3.org/2000/svg}title").text == picture.name  # type: ignore[union-attr]
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch


def test_initials_come_from_the_words_that_start_with_a_letter() -> None:
    assert initials("Field Guide to the Birds") == "FGT"
    assert initials("4K Webcam") == "W"
    assert initials("") == "?"


def test_the_picture_cache_forgets_the_oldest() -> None:
    cache = PictureCache(capacity=2)
    for sku in ("AAA", "BBB", "CCC"):
        cache.remember(Picture(sku, sku, ""))
    assert cache.get("AAA") is None
    assert cache.get("CCC") == Picture("CCC", "CCC", "")


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"status": "ORDER_STATUS_PENDING"}, True),
        ({"status": "ORDER_STATUS_PENDING", "cancel_requested": True}, False),
        ({"status": "ORDER_STATUS_CONFIRMED", "delivery_status": "DELIVERY_STATUS_CREATED"}, True),
        ({"status": "ORDER_STATUS_CONFIRMED", "tracking_number": "1Z"}, False),
        ({"status": "ORDER_STATUS_REJECTED"}, False),
        ({"status": "ORDER_STATUS_CANCELLING"}, False),
    ],
)
def test_cancel_is_offered_while_the_api_would_accept_it(
    order: dict[str, object], expected: bool
) -> None:
    assert cancellable(order) is expected


def test_the_order_page_stops_asking_once_the_outcome_and_its_email_are_in() -> None:
    sent = {"status": "NOTIFICATION_STATUS_SENT"}
    pending = {"status": "NOTIFICATION_STATUS_PENDING"}
    assert not settled({"status": "ORDER_STATUS_PENDING"}, [sent, sent])
    assert not settled({"status": "ORDER_STATUS_CONFIRMED"}, [sent])
    assert not settled({"status": "ORDER_STATUS_CONFIRMED"}, [pending, sent])
    assert settled({"status": "ORDER_STATUS_CONFIRMED"}, [sent, sent])
