"""Orders' domain: the order, its lines and prices, its life (PENDING -> CONFIRMED |
REJECTED, CONFIRMED -> CANCELLED), and the outcomes the contract names. No I/O, no proto,
no SQL. The saga that moves an order out of PENDING is in saga.py."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from chassis.domain import DomainError


class OrderStatus(enum.IntEnum):  # numbers as in shop.orders.v1.OrderStatus
    PENDING = 1
    CONFIRMED = 2
    REJECTED = 3
    CANCELLED = 4


class ShippingSpeed(enum.IntEnum):  # shop.orders.v1.ShippingSpeed (= shipping's ServiceLevel)
    STANDARD = 1
    EXPRESS = 2


class RejectionReason(enum.IntEnum):  # shop.orders.v1.RejectionReason
    PAYMENT_DECLINED = 1
    OUT_OF_STOCK = 2
    DESTINATION_NOT_SERVED = 3
    PAYMENT_ERROR = 4
    TIMED_OUT = 5
    INTERNAL_ERROR = 6


@dataclass(frozen=True)
class Money:
    currency: str
    minor: int

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.currency, self.minor + other.minor)

    def times(self, quantity: int) -> Money:
        return Money(self.currency, self.minor * quantity)


@dataclass(frozen=True)
class Address:
    recipient: str
    lines: tuple[str, ...]
    locality: str
    region: str
    postal_code: str
    country_code: str


@dataclass(frozen=True)
class CatalogPrice:
    """Orders' copy of a product's name and price (the read model kept from catalog)."""

    sku: str
    name: str
    price: Money
    version: int


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class OrderLine:
    sku: str
    name: str
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass(frozen=True)
class PlaceOrder:
    """The command (and the request an idempotency key is bound to)."""

    customer_id: str
    lines: tuple[CartLine, ...]
    address: Address
    speed: ShippingSpeed
    currency: str
    payment_token: str
    expected_total: Money | None


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    status: OrderStatus
    lines: tuple[OrderLine, ...]
    shipping_cost: Money
    address: Address
    speed: ShippingSpeed
    created_at: datetime
    updated_at: datetime
    version: int
    rejection_reason: RejectionReason | None = None
    rejection_detail: str = ""
    payment_id: str = ""
    reservation_id: str = ""
    shipment_id: str = ""
    cancel_reason: str = ""

    @property
    def subtotal(self) -> Money:
        total = Money(self.shipping_cost.currency, 0)
        for line in self.lines:
            total = total + line.line_total
        return total

    @property
    def total(self) -> Money:
        return self.subtotal + self.shipping_cost

    def changed(self, now: datetime, **changes: object) -> Order:
        return replace(self, updated_at=now, version=self.version + 1, **changes)  # type: ignore[arg-type]


# --- what the contract names -------------------------------------------------------------


class OrderNotFound(DomainError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order {order_id}", metadata={"order_id": order_id})


class UnknownSku(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no product with SKU {sku}", field="lines", metadata={"sku": sku})


class CurrencyMismatch(DomainError):
    def __init__(self, sku: str, currency: str) -> None:
        super().__init__(
            f"{sku} is priced in {currency}, not in the requested currency",
            field="currency_code",
            metadata={"sku": sku, "currency_code": currency},
        )


class DestinationNotServed(DomainError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(
            detail or "shipping does not deliver to this address at this speed",
            field="shipping_address",
        )


class PriceChanged(DomainError):
    def __init__(self, total: Money) -> None:
        super().__init__(
            f"the total is now {total.minor} {total.currency} (minor units)",
            field="expected_total",
            metadata={"total": str(total.minor), "currency_code": total.currency},
        )


class NotCancellable(DomainError):
    def __init__(self, order: Order, why: str) -> None:
        super().__init__(why, metadata={"status": order.status.name})


class OrderPending(DomainError):
    """The semantic lock: the saga is still placing the order."""

    def __init__(self, order: Order) -> None:
        super().__init__(
            "the order is still being placed; cancel it once it is CONFIRMED",
            metadata={"status": order.status.name},
        )


class InvalidConsistencyToken(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "malformed consistency token, or issued for another order", field="consistency_token"
        )


# --- decisions ---------------------------------------------------------------------------


def price_lines(
    lines: Sequence[CartLine], prices: Mapping[str, CatalogPrice], currency: str
) -> tuple[OrderLine, ...]:
    """Each line at orders' copy of its catalog price; UnknownSku, CurrencyMismatch."""
    priced = []
    for line in lines:
        known = prices.get(line.sku)
        if known is None:
            raise UnknownSku(line.sku)
        if known.price.currency != currency:
            raise CurrencyMismatch(line.sku, known.price.currency)
        priced.append(OrderLine(line.sku, known.name, line.quantity, known.price))
    return tuple(priced)


def check_expected_total(order: Order, expected: Money | None) -> None:
    if expected is not None and expected != order.total:
        raise PriceChanged(order.total)


def cancel(order: Order, *, reason: str, dispatched: bool, now: datetime) -> Order:
    """A CONFIRMED order not yet dispatched becomes CANCELLED; a CANCELLED one stays as it is."""
    if order.status is OrderStatus.CANCELLED:
        return order
    if order.status is OrderStatus.PENDING:
        raise OrderPending(order)
    if order.status is OrderStatus.REJECTED:
        raise NotCancellable(order, "the order was rejected; nothing was charged")
    if dispatched:
        raise NotCancellable(order, "the shipment was already dispatched")
    return order.changed(now, status=OrderStatus.CANCELLED, cancel_reason=reason)
