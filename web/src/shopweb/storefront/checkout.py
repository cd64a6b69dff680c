"""Checkout: the shipping address, a quote per delivery speed with the total to pay, a test
card, and PlaceOrder with that total as `expected_total` and a key fixed when the page was
drawn (a double submit places one order). Signing in is required."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.app import gateway, settings
from shopweb.gateway import INVALID_ARGUMENT, ApiError
from shopweb.session import Visitor, sign_in_redirect
from shopweb.storefront.cart import Cart, parse_cart, read_cart, write_cart
from shopweb.storefront.cart_pages import catalog_products
from shopweb.storefront.checkout_form import GENERAL, CheckoutForm, field_errors
from shopweb.storefront.consistency import remember_consistency_token
from shopweb.storefront.money import Money
from shopweb.storefront.pages import (
    answers_api_errors,
    api_error_page,
    customer,
    is_uuid,
    page,
)
from shopweb.storefront.pricing import (
    DeliveryOption,
    MixedCurrencies,
    PricedLine,
    delivery_options,
    priced_lines,
    subtotal,
)
from shopweb.storefront.wording import SHIPPING_SPEEDS, TEST_CARDS


def routes() -> list[BaseRoute]:
    return [
        Route("/checkout", _checkout, name="storefront:checkout"),
        Route("/checkout/quote", _quote, methods=["POST"], name="storefront:checkout-quote"),
        Route("/checkout/place", _place, methods=["POST"], name="storefront:checkout-place"),
    ]


def quote_lines(cart: Cart) -> list[dict[str, Any]]:
    return [{"sku": sku, "quantity": quantity} for sku, quantity in cart.lines.items()]


@dataclass
class Priced:
    lines: list[PricedLine]
    items_total: Money | None
    problem: str = ""


async def price_cart(request: Request, cart: Cart) -> Priced:
    products = await catalog_products(request, list(cart.lines))
    lines = priced_lines(cart, products)
    if len(lines) != len(cart.lines):
        return Priced(lines, None, "A product in your cart is no longer sold: check your cart.")
    try:
        return Priced(lines, subtotal(lines))
    except MixedCurrencies:
        return Priced(lines, None, "Your cart mixes currencies; order them separately.")


@dataclass
class Shown:
    """What the checkout page shows besides the form: with `quote`, the delivery speeds
    priced for the address and the payment step; refusals; the key PlaceOrder will carry
    (a fresh one unless a retry must stay the same order)."""

    quote: bool = True
    errors: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    idempotency_key: str | None = None
    status_code: int = 200


@dataclass(frozen=True)
class Attempt:
    """One press of "Place order": what the page showed and the customer chose."""

    cart: Cart
    form: CheckoutForm
    idempotency_key: str
    shown_total: Money


async def _checkout(request: Request) -> Response:
    if customer(request) is None:
        return sign_in_redirect(request)
    cart = read_cart(request)
    if not cart.lines:
        return RedirectResponse("/shop/cart", status_code=303)
    return await _show(request, cart, CheckoutForm(), Shown(quote=False))


@answers_api_errors
async def _show(request: Request, cart: Cart, form: CheckoutForm, shown: Shown) -> Response:
    errors = dict(shown.errors)
    problem = shown.problem
    status_code = shown.status_code
    priced = await price_cart(request, cart)
    options: list[DeliveryOption] = []
    if priced.problem:
        problem = problem or priced.problem
    elif shown.quote and priced.items_total is not None:
        try:
            answer = await gateway(request).post(
                "/v1/shipping:quote",
                {
                    "destination": form.api_address(),
                    "lines": quote_lines(cart),
                    "currency_code": priced.items_total.currency,
                },
                token=_token(request),
            )
            options = delivery_options(answer, priced.items_total)
        except ApiError as error:
            if error.code == INVALID_ARGUMENT:
                errors.update(field_errors(error.fields))
            elif error.reason == "DESTINATION_NOT_SERVED":
                errors["country_code"] = "We do not deliver to this country."
            else:
                raise
            status_code = 400
    if options and form.speed not in {option.speed for option in options}:
        form.speed = options[0].speed
    return page(
        request,
        "checkout.html",
        status_code=status_code,
        lines=priced.lines,
        items_total=priced.items_total,
        form=form,
        options=options,
        cards=TEST_CARDS,
        cart_snapshot=cart.serialize(),
        errors=errors,
        general_error=errors.pop(GENERAL, ""),
        problem=problem,
        idempotency_key=shown.idempotency_key or str(uuid.uuid4()),
    )


def _token(request: Request) -> str | None:
    found = customer(request)
    return found.token if found else None


async def _quote(request: Request) -> Response:
    if customer(request) is None:
        return sign_in_redirect(request)
    cart = read_cart(request)
    if not cart.lines:
        return RedirectResponse("/shop/cart", status_code=303)
    return await _show(request, cart, CheckoutForm.read(await request.form()), Shown())


def expected_total(form_data: FormData, speed: str, currency: str) -> Money | None:
    """The total the page showed for the chosen speed (carried in the form)."""
    text = str(form_data.get(f"total-{speed}", ""))
    return Money(currency, int(text)) if text.isdigit() and currency else None


async def _place(request: Request) -> Response:
    signed_in = customer(request)
    if signed_in is None:
        return sign_in_redirect(request)
    form_data = await request.form()
    form = CheckoutForm.read(form_data)
    cart = parse_cart(str(form_data.get("cart", "")))
    key = str(form_data.get("idempotency_key", ""))
    shown_total = expected_total(form_data, form.speed, str(form_data.get("currency", "")))
    if not cart.lines:
        return RedirectResponse("/shop/cart", status_code=303)
    missing = {}
    if form.speed not in SHIPPING_SPEEDS or shown_total is None:
        missing["speed"] = "Choose a delivery speed."
    if not form.payment_token:
        missing["payment_token"] = "Choose a test card."
    if missing or shown_total is None or not is_uuid(key):
        return await _show(request, cart, form, Shown(errors=missing, status_code=400))
    return await _place_order(request, signed_in, Attempt(cart, form, key, shown_total))


async def _place_order(request: Request, signed_in: Visitor, attempt: Attempt) -> Response:
    cart, form = attempt.cart, attempt.form
    body = {
        "idempotency_key": attempt.idempotency_key,
        "lines": quote_lines(cart),
        "shipping_address": form.api_address(),
        "shipping_speed": form.speed,
        "currency_code": attempt.shown_total.currency,
        "payment_token": form.payment_token,
        "expected_total": attempt.shown_total.to_api(),
    }
    try:
        answer = await gateway(request).post("/v1/orders", body, token=signed_in.token)
    except httpx.HTTPError:
        return await _retry_same_order(request, attempt)
    except ApiError as error:
        return await _refused(request, attempt, error)
    order_id = answer["order"]["order_id"]
    token = answer.get("consistency_token", "")
    response = RedirectResponse(f"/shop/orders/{order_id}", status_code=303)
    secure = settings(request).secure_cookies
    remember_consistency_token(response, order_id, token, secure=secure)
    remaining = read_cart(request)
    for sku in cart.lines:
        remaining.set_quantity(sku, 0)
    write_cart(response, remaining, secure=secure)
    return response


async def _retry_same_order(request: Request, attempt: Attempt) -> Response:
    """The outcome is unknown: the page keeps the key, so pressing again cannot place a
    second order."""
    shown = Shown(
        problem="We could not place the order just now. Please try again.",
        idempotency_key=attempt.idempotency_key,
        status_code=503,
    )
    return await _show(request, attempt.cart, attempt.form, shown)


REFUSALS = {
    "DESTINATION_NOT_SERVED": "We do not deliver to this country.",
    "CURRENCY_MISMATCH": "Your cart mixes currencies; order them separately.",
    "UNKNOWN_SKU": "A product in your cart is no longer sold: check your cart.",
    "IDEMPOTENCY_KEY_REUSED": "This form was already used for another order. "
    "Check the details and place the order again.",
}


async def _refused(request: Request, attempt: Attempt, error: ApiError) -> Response:
    """PlaceOrder's refusal shown on the checkout page with a fresh quote and key."""
    cart, form = attempt.cart, attempt.form
    if error.reason == "PRICE_CHANGED":
        problem = (
            f"The total changed since you saw it ({attempt.shown_total}): nothing was ordered "
            "or charged. Check the new total below and place the order again."
        )
        return await _show(request, cart, form, Shown(problem=problem, status_code=409))
    if error.code == INVALID_ARGUMENT:
        errors = field_errors(error.fields)
        return await _show(request, cart, form, Shown(errors=errors, status_code=400))
    if error.reason in REFUSALS:
        shown = Shown(problem=REFUSALS[error.reason], status_code=409)
        return await _show(request, cart, form, shown)
    if error.status == 503:
        return await _retry_same_order(request, attempt)
    return api_error_page(request, error)
