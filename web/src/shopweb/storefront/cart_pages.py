"""The cart page: what is in the cart, priced now; add, change and remove lines."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.app import gateway, settings
from shopweb.gateway import NOT_FOUND, ApiError
from shopweb.storefront.cart import (
    MAX_LINES,
    MAX_QUANTITY,
    CartFull,
    read_cart,
    valid_sku,
    write_cart,
)
from shopweb.storefront.catalog import remember_pictures
from shopweb.storefront.pages import (
    answers_api_errors,
    page,
)
from shopweb.storefront.pricing import MixedCurrencies, priced_lines, subtotal


def routes() -> list[BaseRoute]:
    return [
        Route("/cart", _cart, name="storefront:cart"),
        Route("/cart/add", _add, methods=["POST"], name="storefront:cart-add"),
        Route("/cart/update", _update, methods=["POST"], name="storefront:cart-update"),
        Route("/cart/remove", _remove, methods=["POST"], name="storefront:cart-remove"),
    ]


async def catalog_products(request: Request, skus: list[str]) -> dict[str, dict[str, Any]]:
    """The catalog's current view of each SKU; SKUs it no longer knows are left out."""

    async def one(sku: str) -> dict[str, Any] | None:
        try:
            product: dict[str, Any] = (await gateway(request).get(f"/v1/products/{sku}"))["product"]
        except ApiError as error:
            if error.code == NOT_FOUND:
                return None
            raise
        return product

    found = await asyncio.gather(*(one(sku) for sku in skus))
    products = {product["sku"]: product for product in found if product is not None}
    remember_pictures(request, list(products.values()))
    return products


def _quantity(text: object, default: int = 1) -> int:
    try:
        return int(str(text))
    except ValueError:
        return default


@answers_api_errors
async def _cart(request: Request) -> Response:
    cart = read_cart(request)
    products = await catalog_products(request, list(cart.lines))
    lines = priced_lines(cart, products)
    gone = [sku for sku in cart.lines if sku not in products]
    problem = ""
    total = None
    try:
        total = subtotal(lines) if lines else None
    except MixedCurrencies:
        problem = "These products are priced in different currencies; order them separately."
    added = request.query_params.get("added", "")
    response = page(
        request,
        "cart.html",
        lines=lines,
        subtotal=total,
        problem=problem,
        gone=gone,
        added=products.get(added, {}).get("name", ""),
        full=request.query_params.get("full") == "1",
        max_lines=MAX_LINES,
        max_quantity=MAX_QUANTITY,
    )
    if gone:  # products the catalog no longer has leave the cart
        for sku in gone:
            cart.set_quantity(sku, 0)
        write_cart(response, cart, secure=settings(request).secure_cookies)
    return response


async def _add(request: Request) -> Response:
    form = await request.form()
    sku = str(form.get("sku", ""))
    cart = read_cart(request)
    if not valid_sku(sku):
        return RedirectResponse("/shop/cart", status_code=303)
    try:
        cart.add(sku, max(1, _quantity(form.get("quantity"))))
    except CartFull:
        return RedirectResponse("/shop/cart?full=1", status_code=303)
    response = RedirectResponse(f"/shop/cart?added={quote(sku)}", status_code=303)
    write_cart(response, cart, secure=settings(request).secure_cookies)
    return response


async def _update(request: Request) -> Response:
    form = await request.form()
    cart = read_cart(request)
    for sku in list(cart.lines):
        cart.set_quantity(sku, _quantity(form.get(f"quantity-{sku}"), cart.lines[sku]))
    response = RedirectResponse("/shop/cart", status_code=303)
    write_cart(response, cart, secure=settings(request).secure_cookies)
    return response


async def _remove(request: Request) -> Response:
    form = await request.form()
    cart = read_cart(request)
    cart.set_quantity(str(form.get("sku", "")), 0)
    response = RedirectResponse("/shop/cart", status_code=303)
    write_cart(response, cart, secure=settings(request).secure_cookies)
    return response
