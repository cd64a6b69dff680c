"""The cart priced from the catalog, and the total per delivery speed: what the checkout
shows, and what PlaceOrder is told the customer expects to pay."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shopweb.storefront.cart import Cart
from shopweb.storefront.money import Money, from_api
from shopweb.storefront.wording import SPEED_NAME, SPEED_OF_SERVICE_LEVEL


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True)
class DeliveryOption:
    speed: str
    price: Money
    min_days: int
    max_days: int
    total: Money

    @property
    def name(self) -> str:
        return SPEED_NAME.get(self.speed, self.speed)

    @property
    def days(self) -> str:
        if self.min_days == self.max_days:
            return f"{self.min_days} business day{'s' if self.min_days != 1 else ''}"
        return f"{self.min_days} to {self.max_days} business days"


class MixedCurrencies(Exception):
    """The cart holds products priced in different currencies: one order pays in one."""


def priced_lines(cart: Cart, products: dict[str, dict[str, Any]]) -> list[PricedLine]:
    """The cart's lines whose product the catalog knows, in the cart's order."""
    lines = []
    for sku, quantity in cart.lines.items():
        product = products.get(sku)
        price = from_api(product.get("price")) if product else None
        if product is None or price is None:
            continue
        lines.append(PricedLine(sku, str(product.get("name", sku)), quantity, price))
    return lines


def subtotal(lines: list[PricedLine]) -> Money:
    """The lines' sum; raises MixedCurrencies, or ValueError for no lines."""
    if not lines:
        raise ValueError("no lines")
    currency = lines[0].unit_price.currency
    if any(line.unit_price.currency != currency for line in lines):
        raise MixedCurrencies
    total = Money(currency, 0)
    for line in lines:
        total = total + line.total
    return total


def delivery_options(quote: dict[str, Any], items_total: Money) -> list[DeliveryOption]:
    """QuoteShipping's options (cheapest first) as speeds PlaceOrder accepts, each with the
    total the customer would pay; options in another currency or an unknown level are left
    out rather than shown with a wrong total."""
    options = []
    for option in quote.get("options", []):
        speed = SPEED_OF_SERVICE_LEVEL.get(str(option.get("service_level")))
        price = from_api(option.get("price"))
        if speed is None or price is None or price.currency != items_total.currency:
            continue
        options.append(
            DeliveryOption(
                speed,
                price,
                int(option.get("min_days", 0)),
                int(option.get("max_days", 0)),
                items_total + price,
            )
        )
    return options
