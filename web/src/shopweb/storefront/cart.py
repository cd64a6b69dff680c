"""The cart: SKU -> quantity, kept in a cookie. The cookie is the visitor's to change, so
every read validates it: unknown shapes are dropped, quantities clamped, size bounded. Prices
never live here; they are read from the catalog whenever the cart is shown."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "shop_cart"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
# Well inside PlaceOrder's limits (50 lines, 100 units a line) and a cookie's 4 KB.
MAX_LINES = 20
MAX_QUANTITY = 10
SKU = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")
# "SKU:QTY.SKU:QTY": only characters a cookie carries unquoted.
LINE_SEPARATOR = "."
QUANTITY_SEPARATOR = ":"


class CartFull(Exception):
    """The cart already holds MAX_LINES different products."""


@dataclass
class Cart:
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return sum(self.lines.values())

    def add(self, sku: str, quantity: int) -> None:
        if not valid_sku(sku):
            raise ValueError(f"not a SKU: {sku!r}")
        if sku not in self.lines and len(self.lines) >= MAX_LINES:
            raise CartFull
        self.lines[sku] = clamp_quantity(self.lines.get(sku, 0) + quantity)

    def set_quantity(self, sku: str, quantity: int) -> None:
        """Zero (or less) removes the line; more than MAX_QUANTITY is capped."""
        if sku not in self.lines:
            return
        if quantity <= 0:
            del self.lines[sku]
        else:
            self.lines[sku] = clamp_quantity(quantity)

    def serialize(self) -> str:
        return LINE_SEPARATOR.join(
            f"{sku}{QUANTITY_SEPARATOR}{quantity}" for sku, quantity in self.lines.items()
        )


def valid_sku(sku: str) -> bool:
    return bool(SKU.match(sku))


def clamp_quantity(quantity: int) -> int:
    return max(1, min(MAX_QUANTITY, quantity))


def parse_cart(raw: str | None) -> Cart:
    """The cart a cookie (or a checkout form's snapshot) describes, keeping only what is
    valid: well-formed SKUs, positive quantities (capped), the first MAX_LINES products."""
    cart = Cart()
    if not raw:
        return cart
    for entry in raw.split(LINE_SEPARATOR)[: MAX_LINES * 2]:
        sku, separator, quantity_text = entry.partition(QUANTITY_SEPARATOR)
        if not separator or not valid_sku(sku) or not quantity_text.isdigit():
            continue
        quantity = int(quantity_text[:4])
        if quantity <= 0:
            continue
        try:
            cart.add(sku, quantity)
        except CartFull:
            break
    return cart


def read_cart(request: Request) -> Cart:
    return parse_cart(request.cookies.get(COOKIE))


def write_cart(response: Response, cart: Cart, *, secure: bool) -> None:
    if not cart.lines:
        response.delete_cookie(COOKIE, path="/shop")
        return
    response.set_cookie(
        COOKIE,
        cart.serialize(),
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/shop",
    )
