"""Product editing: load a product by SKU, change it, and UpsertProduct it (or create a
new one), with the API's validation errors on the fields they concern."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from shopweb.app import gateway
from shopweb.console import forms
from shopweb.console.guard import admin_only, token
from shopweb.gateway import ApiError

INPUTS = (
    "sku",
    "name",
    "description",
    "price",
    "currency_code",
    "categories",
    "weight_grams",
    "image_url",
)
# Request paths (under "product.") that an input stands for under another name.
ALIASES = {"price.amount_minor": "price", "price.currency_code": "currency_code"}
CURRENCIES = ("AUD", "CAD", "CHF", "DKK", "EUR", "GBP", "JPY", "NOK", "PLN", "SEK", "USD")
WITHOUT_CENTS = frozenset({"JPY"})
REFUSALS = (400, 404, 409)


def minor_units(price: str, currency: str) -> int | None:
    """Like "29.90" EUR -> 2990; None when it is not an amount the currency can express."""
    digits = 0 if currency in WITHOUT_CENTS else 2
    try:
        scaled = Decimal(price.replace(",", ".")) * 10**digits
    except InvalidOperation:
        return None
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def shown_price(money: dict[str, Any]) -> str:
    digits = 0 if money.get("currency_code") in WITHOUT_CENTS else 2
    amount = Decimal(str(money.get("amount_minor", "0"))) / 10**digits
    return f"{amount:.{digits}f}"


def form_values(product: dict[str, Any]) -> dict[str, str]:
    price = product.get("price", {})
    return {
        "sku": str(product.get("sku", "")),
        "name": str(product.get("name", "")),
        "description": str(product.get("description", "")),
        "price": shown_price(price) if price else "",
        "currency_code": str(price.get("currency_code", "EUR")),
        "categories": ", ".join(product.get("categories", [])),
        "weight_grams": str(product.get("weight_grams", "")),
        "image_url": str(product.get("image_url", "")),
    }


def product_body(form: FormData, errors: forms.FormErrors) -> dict[str, Any]:
    """The product the form describes; what cannot be written as one goes to `errors`."""
    currency = forms.text(form, "currency_code")
    amount = minor_units(forms.text(form, "price"), currency)
    if amount is None:
        places = "no decimals" if currency in WITHOUT_CENTS else "at most two decimals"
        errors.by_field["price"] = (
            f"an amount like 29.90 ({places} in {currency or 'this currency'})"
        )
    weight = forms.whole_number(form, "weight_grams", errors)
    categories = [c.strip() for c in forms.text(form, "categories").split(",") if c.strip()]
    return {
        "sku": forms.text(form, "sku").upper(),
        "name": forms.text(form, "name"),
        "description": forms.text(form, "description"),
        "price": {"currency_code": currency, "amount_minor": str(amount or 0)},
        "categories": categories,
        "weight_grams": weight or 0,
        "image_url": forms.text(form, "image_url"),
    }


@admin_only
async def show(request: Request) -> Response:
    sku = request.query_params.get("sku", "").strip().upper()
    if not sku:
        return _page(request, form_values({"price": {"currency_code": "EUR"}}), forms.FormErrors())
    try:
        reply = await gateway(request).get(f"/v1/products/{quote(sku, safe='')}")
    except ApiError as error:
        if error.status not in REFUSALS:
            raise
        values = form_values({"sku": sku, "price": {"currency_code": "EUR"}})
        return _page(
            request, values, forms.FormErrors(), notice=f"No product {sku} yet: create it."
        )
    return _page(request, form_values(reply.get("product", {})), forms.FormErrors())


@admin_only
async def save(request: Request) -> Response:
    form = await request.form()
    values = {name: forms.text(form, name) for name in INPUTS}
    errors = forms.FormErrors()
    product = product_body(form, errors)
    if errors:
        return _page(request, values, errors, status_code=400)
    body = {
        "idempotency_key": forms.text(form, "idempotency_key") or str(uuid.uuid4()),
        "product": product,
    }
    try:
        reply = await gateway(request).post("/admin/v1/products", body, token(request))
    except ApiError as error:
        if error.status not in REFUSALS:
            raise
        placed = forms.place(error.fields, INPUTS, prefix="product.", aliases=ALIASES)
        if not error.fields:
            placed.general.append(error.message or f"refused ({error.status})")
        return _page(request, values, placed, status_code=error.status)
    saved: dict[str, Any] = reply.get("product", product)
    done = f"Saved {saved.get('sku')} (version {saved.get('version', '?')})."
    return _page(request, form_values(saved), errors, done=done)


def _page(
    request: Request,
    values: dict[str, str],
    errors: forms.FormErrors,
    status_code: int = 200,
    **shown: str,
) -> Response:
    """The page; `shown`: what was `done`, or a `notice`."""
    return forms.page(
        request,
        "console/product.html",
        values,
        errors,
        status_code,
        currencies=CURRENCIES,
        **shown,
    )
