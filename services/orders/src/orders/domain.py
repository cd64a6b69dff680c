"""Orders' domain: the order, its lines and prices, its life (PENDING -> CONFIRMED |
REJECTED | CANCELLED; CONFIRMED -> CANCELLING -> CANCELLED once payments, inventory and
shipping have each reported their part undone), and the outcomes the contract names. No
I/O, no proto, no SQL. The saga that moves an order out of PENDING is in saga.py."""

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
    CANCELLING = 5


class PaymentStatus(enum.IntEnum):  # shop.orders.v1.PaymentStatus; a later state has a
    UNSPECIFIED = 0  # higher number (VOIDED and REFUNDED never both happen to one payment)
    CAPTURED = 1
    VOIDED = 2
    REFUNDED = 3


class DeliveryStatus(enum.IntEnum):  # shop.orders.v1.DeliveryStatus; later is higher
    UNSPECIFIED = 0  # (a dispatched shipment is never cancelled, nor a cancelled one sent)
    CREATED = 1
    DISPATCHED = 2
    CANCELLED = 3


class Undone(enum.Enum):
    """What a peer reported undone of a cancelled order (its outcome event)."""

    PAYMENT_REFUNDED = "PAYMENT_REFUNDED"  # payments' PaymentRefunded
    PAYMENT_VOIDED = "PAYMENT_VOIDED"  # payments' PaymentVoided
    STOCK_RESTOCKED = "STOCK_RESTOCKED"  # inventory's ReservationRestocked
    SHIPMENT_CANCELLED = "SHIPMENT_CANCELLED"  # shipping's ShipmentCancelled


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
    # What the cancellation's outcomes said so far (CANCELLING -> CANCELLED):
    payment_undone: PaymentStatus = PaymentStatus.UNSPECIFIED  # VOIDED or REFUNDED
    refunded_minor: int = 0  # what PaymentRefunded gave back, in the total's currency
    stock_returned: bool = False
    shipment_cancelled: bool = False

    @property
    def subtotal(self) -> Money:
        total = Money(self.shipping_cost.currency, 0)
        for line in self.lines:
            total = total + line.line_total
        return total

    @property
    def total(self) -> Money:
        return self.subtotal + self.shipping_cost

    @property
    def cancellation_settled(self) -> bool:
        """Payments, inventory and shipping have each reported their part undone."""
        return (
            self.payment_undone is not PaymentStatus.UNSPECIFIED
            and self.stock_returned
            and self.shipment_cancelled
        )

    @property
    def payment_status(self) -> PaymentStatus:
        """As far as orders knows without payments' events (GetOrder)."""
        if self.payment_undone is not PaymentStatus.UNSPECIFIED:
            return self.payment_undone
        if self.status in (OrderStatus.CONFIRMED, OrderStatus.CANCELLING):
            return PaymentStatus.CAPTURED
        if self.payment_id and self.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            return PaymentStatus.VOIDED  # the saga's compensation voided it
        return PaymentStatus.UNSPECIFIED

    @property
    def delivery_status(self) -> DeliveryStatus:
        """As far as orders knows without shipping's events (GetOrder)."""
        if self.shipment_cancelled:
            return DeliveryStatus.CANCELLED
        if not self.shipment_id:
            return DeliveryStatus.UNSPECIFIED
        if self.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            return DeliveryStatus.CANCELLED  # the saga's compensation cancelled it
        return DeliveryStatus.CREATED

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
    """A CONFIRMED order not yet dispatched becomes CANCELLING (payments, inventory and
    shipping then undo their part); a CANCELLING or CANCELLED one stays as it is. A PENDING
    order is not cancelled here: its saga is (saga.request_cancel)."""
    if order.status in (OrderStatus.CANCELLING, OrderStatus.CANCELLED):
        return order
    if order.status is OrderStatus.REJECTED:
        raise NotCancellable(order, "the order was rejected; nothing was charged")
    if order.status is not OrderStatus.CONFIRMED:
        raise NotCancellable(order, f"an order {order.status.name} cannot be cancelled here")
    if dispatched:
        raise NotCancellable(order, "the shipment was already dispatched")
    return order.changed(now, status=OrderStatus.CANCELLING, cancel_reason=reason)


def record_undone(order: Order, undone: Undone, refunded_minor: int, now: datetime) -> Order:
    """A CANCELLING order learns that a peer undid its part; once payment, stock and
    shipment are all undone it is CANCELLED. Anything else (an order not CANCELLING, an
    outcome already known) is returned as it is: the event is not about a cancellation
    orders waits for (a saga's compensation says the same things), or came again."""
    if order.status is not OrderStatus.CANCELLING:
        return order
    match undone:
        case Undone.PAYMENT_REFUNDED | Undone.PAYMENT_VOIDED if (
            order.payment_undone is PaymentStatus.UNSPECIFIED
        ):
            refunded = undone is Undone.PAYMENT_REFUNDED
            status = PaymentStatus.REFUNDED if refunded else PaymentStatus.VOIDED
            changes: dict[str, object] = {
                "payment_undone": status,
                "refunded_minor": refunded_minor if refunded else 0,
            }
        case Undone.STOCK_RESTOCKED if not order.stock_returned:
            changes = {"stock_returned": True}
        case Undone.SHIPMENT_CANCELLED if not order.shipment_cancelled:
            changes = {"shipment_cancelled": True}
        case _:
            return order
    recorded = replace(order, **changes)  # type: ignore[arg-type]
    if recorded.cancellation_settled:
        changes["status"] = OrderStatus.CANCELLED
    return order.changed(now, **changes)


def cancelled_by_saga(order: Order, reason: str, now: datetime) -> Order:
    """A PENDING order whose queued cancel the saga honoured: its compensations voided the
    authorization, released the reservation and cancelled the shipment it had made."""
    return order.changed(
        now,
        status=OrderStatus.CANCELLED,
        cancel_reason=reason,
        payment_undone=PaymentStatus.VOIDED if order.payment_id else PaymentStatus.UNSPECIFIED,
        stock_returned=bool(order.reservation_id),
        shipment_cancelled=bool(order.shipment_id),
    )
