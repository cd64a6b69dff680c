"""Browsing: the catalog by page and category, search, a product with its live
availability, and the products' pictures."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.app import gateway
from shopweb.gateway import INVALID_ARGUMENT, NOT_FOUND, ApiError
from shopweb.storefront.cart import MAX_QUANTITY, valid_sku
from shopweb.storefront.images import Picture, product_svg
from shopweb.storefront.pages import (
    answers_api_errors,
    not_found,
    page,
    pictures,
)

PAGE_SIZE = 12
MAX_QUERY_LENGTH = 200
# The API lists no categories: they are gathered from the catalog, at most this often.
CATEGORIES_TTL_S = 300.0
CATEGORY_SCAN_PAGES = 5
IMAGE_CACHE_CONTROL = "public, max-age=31536000, immutable"
LOW_STOCK = 5


def routes() -> list[BaseRoute]:
    return [
        Route("/", _catalog, name="storefront:catalog"),
        Route("/search", _search, name="storefront:search"),
        Route("/products/{sku}", _product, name="storefront:product"),
        Route("/images/{sku}.svg", _image, name="storefront:image"),
    ]


def image_url(product: dict[str, Any]) -> str:
    """Versioned, so a changed product gets a new picture despite the long cache."""
    return f"/shop/images/{product['sku']}.svg?v={product.get('version', '0')}"


def remember_pictures(request: Request, products: list[dict[str, Any]]) -> None:
    cache = pictures(request)
    for product in products:
        categories = product.get("categories") or [""]
        cache.remember(Picture(product["sku"], product.get("name", ""), categories[0]))


def category_title(slug: str) -> str:
    return slug.replace("-", " ").capitalize()


async def categories(request: Request) -> list[str]:
    state = request.app.state
    cached: tuple[float, list[str]] | None = getattr(state, "storefront_categories", None)
    if cached and time.monotonic() - cached[0] < CATEGORIES_TTL_S:
        return cached[1]
    found: set[str] = set()
    token = ""
    for _ in range(CATEGORY_SCAN_PAGES):
        answer = await gateway(request).get(
            "/v1/products", params={"page_size": 100, "page_token": token}
        )
        products = answer.get("products", [])
        remember_pictures(request, products)
        found.update(c for product in products for c in product.get("categories", []))
        token = answer.get("next_page_token", "")
        if not token:
            break
    state.storefront_categories = (time.monotonic(), sorted(found))
    return sorted(found)


@answers_api_errors
async def _catalog(request: Request) -> Response:
    category = request.query_params.get("category", "")
    params = {
        "page_size": PAGE_SIZE,
        "category": category,
        "page_token": request.query_params.get("page_token", ""),
    }
    try:
        answer = await gateway(request).get("/v1/products", params=params)
    except ApiError as error:
        if error.code != INVALID_ARGUMENT:  # a made-up category or a stale page token
            raise
        return not_found(request)
    products = answer.get("products", [])
    remember_pictures(request, products)
    return page(
        request,
        "catalog.html",
        products=products,
        categories=await categories(request),
        category=category,
        category_title=category_title,
        next_page_token=answer.get("next_page_token", ""),
        first_page=not params["page_token"],
        image_url=image_url,
    )


@answers_api_errors
async def _search(request: Request) -> Response:
    query = request.query_params.get("q", "").strip()[:MAX_QUERY_LENGTH]
    if not query:
        return RedirectResponse("/shop/", status_code=303)
    page_token = request.query_params.get("page_token", "")
    params = {"query": query, "page_size": PAGE_SIZE, "page_token": page_token}
    answer = await gateway(request).get("/v1/products:search", params=params)
    products = answer.get("products", [])
    remember_pictures(request, products)
    return page(
        request,
        "search.html",
        query=query,
        products=products,
        next_page_token=answer.get("next_page_token", ""),
        first_page=not page_token,
        image_url=image_url,
    )


async def stock_available(request: Request, sku: str) -> int:
    """Units that can be ordered now, asked of inventory on every view (no cache)."""
    try:
        answer = await gateway(request).get(f"/v1/stock/{sku}")
    except ApiError as error:
        if error.code == NOT_FOUND:  # never stocked
            return 0
        raise
    return int(answer.get("stock_level", {}).get("available", 0))


def availability(available: int) -> str:
    if available <= 0:
        return "Out of stock"
    if available <= LOW_STOCK:
        return f"Only {available} left in stock"
    return f"In stock ({available} available)"


@answers_api_errors
async def _product(request: Request) -> Response:
    sku = request.path_params["sku"]
    if not valid_sku(sku):
        return not_found(request, "product")
    product = (await gateway(request).get(f"/v1/products/{sku}"))["product"]
    remember_pictures(request, [product])
    available = await stock_available(request, sku)
    return page(
        request,
        "product.html",
        product=product,
        available=available,
        availability=availability(available),
        max_quantity=min(MAX_QUANTITY, available),
        category_title=category_title,
        image_url=image_url,
    )


@answers_api_errors
async def _image(request: Request) -> Response:
    sku = request.path_params["sku"]
    if not valid_sku(sku):
        return Response("no such picture", status_code=404, media_type="text/plain")
    picture = pictures(request).get(sku)
    if picture is None:
        try:
            product = (await gateway(request).get(f"/v1/products/{sku}"))["product"]
        except ApiError as error:
            if error.code != NOT_FOUND:
                raise
            return Response("no such picture", status_code=404, media_type="text/plain")
        remember_pictures(request, [product])
        picture = pictures(request).get(sku)
        assert picture is not None
    return Response(
        product_svg(picture),
        media_type="image/svg+xml",
        headers={"cache-control": IMAGE_CACHE_CONTROL},
    )
