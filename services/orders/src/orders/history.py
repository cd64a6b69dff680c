"""The order history (ListOrders' read model) as values: what each event tells it, and an
entry as ListOrders shows it. Built from orders', payments' and shipping's events, which
may arrive in any order and more than once, so each fact applies monotonically: an order
event only if its version is newer, a payment or delivery status only if it is later in
that life (PaymentStatus and DeliveryStatus grow with it), facts that never change (the
customer, the lines, the total) from whichever event brought them first. Applying a fact
twice, or an older one after a newer one, changes nothing. repository.HistoryRepository
does it in one statement per fact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.domain import (
    Address,
    DeliveryStatus,
    Money,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    RejectionReason,
    ShippingSpeed,
)


@dataclass(frozen=True)
class OrderFact:
    """What one of orders' own events says about the order, at its version."""

    order_id: str
    customer_id: str
    version: int
    status: OrderStatus
    at: datetime  # the event's time
    total: Money | None = None
    lines: tuple[OrderLine, ...] | None = None  # OrderPlaced and OrderCancelled carry them
    address: Address | None = None  # OrderPlaced only
    speed: ShippingSpeed | None = None
    rejection_reason: RejectionReason | None = None
    cancel_reason: str = ""
    payment_id: str = ""
    shipment_id: str = ""


@dataclass(frozen=True)
class PaymentFact:
    """What a payments event says (the customer comes from orders' events only)."""

    order_id: str
    payment_id: str
    status: PaymentStatus
    at: datetime


@dataclass(frozen=True)
class DeliveryFact:
    """What a shipping event says."""

    order_id: str
    shipment_id: str
    status: DeliveryStatus
    at: datetime
    carrier: str = ""
    tracking_number: str = ""


@dataclass(frozen=True)
class Entry:
    """One order as the history shows it (only entries some order event reached)."""

    order_id: str
    customer_id: str
    version: int
    status: OrderStatus
    total: Money | None
    lines: tuple[OrderLine, ...]
    address: Address | None
    speed: ShippingSpeed | None
    rejection_reason: RejectionReason | None
    cancel_reason: str
    payment_id: str
    payment_status: PaymentStatus
    shipment_id: str
    delivery_status: DeliveryStatus
    carrier: str
    tracking_number: str
    created_at: datetime
    updated_at: datetime
