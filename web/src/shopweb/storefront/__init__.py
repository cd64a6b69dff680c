"""The storefront: what a customer sees and does, mounted at /shop."""

from __future__ import annotations

from starlette.routing import BaseRoute

from shopweb.storefront import cart_pages, catalog, checkout, emails, orders


def routes() -> list[BaseRoute]:
    return [
        *catalog.routes(),
        *cart_pages.routes(),
        *checkout.routes(),
        *orders.routes(),
        *emails.routes(),
    ]
