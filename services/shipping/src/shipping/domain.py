"""Shipping's model: shipments, their life (PENDING -> DISPATCHED, or PENDING -> CANCELLED),
and the outcomes the contract names.

Pure: no I/O, no gRPC, no SQL. The contract validates requests at the edge; these
invariants hold for every shipment however it arrives (API, events, tests). What delivery
costs is the rate table's business (rates.py).
"""

from __future__ import annotations

import base64
import enum
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from chassis.domain import DomainError


class ServiceLevel(enum.Enum):
    """How fast a parcel travels; the names are the contract's (SERVICE_LEVEL_<name>)."""

    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class ShipmentStatus(enum.Enum):
    PENDING = "PENDING"  # waiting for the carrier's pickup; can still be cancelled
    DISPATCHED = "DISPATCHED"  # with the carrier
    DELIVERED = "DELIVERED"  # final; reported by a carrier integration (none yet)
    CANCELLED = "CANCELLED"  # final


# --- the outcomes the contract names (grpc_api.ERRORS maps each to its ErrorReason) --------
class ShipmentNotFound(DomainError):
    def __init__(self, shipment_id: str) -> None:
        super().__init__(
            f"no shipment with id {shipment_id}", metadata={"shipment_id": shipment_id}
        )


class DestinationNotServed(DomainError):
    def __init__(self, country_code: str, service_level: ServiceLevel | None = None) -> None:
        level = f" at service level {service_level.value}" if service_level else ""
        metadata = {"country_code": country_code}
        if service_level is not None:
            metadata["service_level"] = service_level.value
        super().__init__(f"no delivery to {country_code}{level}", metadata=metadata)


class UnknownSku(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no weight is known for SKU {sku}", metadata={"sku": sku})


class AlreadyDispatched(DomainError):
    def __init__(self, shipment_id: str) -> None:
        super().__init__(
            f"shipment {shipment_id} is with the carrier and can no longer be cancelled",
            metadata={"shipment_id": shipment_id},
        )


class ShipmentAlreadyExists(DomainError):
    def __init__(self, order_id: str, shipment_id: str) -> None:
        super().__init__(
            f"order {order_id} already has the live shipment {shipment_id}",
            metadata={"order_id": order_id, "shipment_id": shipment_id},
        )


class InvalidShipment(DomainError):
    """A shipment would break an invariant. The contract's request rules reject all of
    these first, so reaching one from the API is a bug (unmapped: INTERNAL)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


# --- values ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Money:
    """An exact amount: ISO 4217 currency code and integer minor units."""

    currency: str
    amount_minor: int


@dataclass(frozen=True)
class Address:
    recipient: str
    lines: tuple[str, ...]
    locality: str
    region: str
    postal_code: str
    country_code: str  # ISO 3166-1 alpha-2, upper case: what the rate table zones by

    def __post_init__(self) -> None:
        if not self.lines:
            raise InvalidShipment("address.lines", "must have at least one line")
        if len(self.country_code) != 2 or not self.country_code.isupper():
            raise InvalidShipment("address.country_code", "must be an ISO 3166-1 alpha-2 code")


@dataclass(frozen=True)
class ParcelLine:
    """One SKU and how many units of it go into the parcel (a quote's or a shipment's)."""

    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise InvalidShipment("lines.quantity", "must be positive")


def check_lines(lines: tuple[ParcelLine, ...]) -> None:
    """A parcel holds at least one line and each SKU once."""
    if not lines:
        raise InvalidShipment("lines", "must not be empty")
    if len({line.sku for line in lines}) != len(lines):
        raise InvalidShipment("lines", "each SKU may appear only once")


@dataclass(frozen=True)
class ShipmentRequest:
    """What the order saga asks for: the request an idempotency key is claimed for."""

    order_id: str
    customer_id: str
    address: Address
    lines: tuple[ParcelLine, ...]
    service_level: ServiceLevel

    def __post_init__(self) -> None:
        check_lines(self.lines)
        if not self.customer_id:
            raise InvalidShipment("customer_id", "must not be empty")


@dataclass(frozen=True)
class Shipment:
    """The aggregate: the parcel that delivers one order. Every change makes a new version."""

    shipment_id: str
    order_id: str
    customer_id: str
    status: ShipmentStatus
    address: Address
    lines: tuple[ParcelLine, ...]
    service_level: ServiceLevel
    carrier: str
    # Booked with the carrier when the shipment is created (the label is printed then);
    # the contract shows it to callers only once the parcel is dispatched.
    tracking_number: str
    dispatch_due_at: datetime  # when the carrier picks the parcel up
    created_at: datetime
    updated_at: datetime
    version: int
    cancel_reason: str = ""

    def __post_init__(self) -> None:
        check_lines(self.lines)
        if self.version <= 0:
            raise InvalidShipment("version", "must be positive")

    @property
    def live(self) -> bool:
        """A live shipment delivers its order; an order has at most one."""
        return self.status is not ShipmentStatus.CANCELLED

    @property
    def with_carrier(self) -> bool:
        return self.status in (ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED)


# --- decisions ------------------------------------------------------------------------------
def tracking_number(carrier: str, shipment_id: str) -> str:
    """The carrier's tracking number of a shipment: its code and 16 characters derived from
    the shipment's id (80 bits, so two shipments never share one in practice)."""
    digest = base64.b32encode(uuid.UUID(shipment_id).bytes[:10]).decode()
    return f"{carrier.upper()}{digest}"


@dataclass(frozen=True)
class Pickup:
    """Who carries a new shipment, and when they collect it."""

    carrier: str
    due_at: datetime


def create(
    request: ShipmentRequest,
    *,
    shipment_id: str,
    pickup: Pickup,
    now: datetime,
    live_shipment: Shipment | None,
) -> Shipment:
    """A new PENDING shipment, booked with the pickup's carrier; refused while the order
    has a live shipment (one created by another command)."""
    if live_shipment is not None:
        raise ShipmentAlreadyExists(request.order_id, live_shipment.shipment_id)
    return Shipment(
        shipment_id=shipment_id,
        order_id=request.order_id,
        customer_id=request.customer_id,
        status=ShipmentStatus.PENDING,
        address=request.address,
        lines=request.lines,
        service_level=request.service_level,
        carrier=pickup.carrier,
        tracking_number=tracking_number(pickup.carrier, shipment_id),
        dispatch_due_at=pickup.due_at,
        created_at=now,
        updated_at=now,
        version=1,
    )


@dataclass(frozen=True)
class Cancellation:
    shipment: Shipment
    changed: bool  # False: it was already cancelled, nothing happened (and nothing is told)


def cancel(shipment: Shipment, reason: str, now: datetime) -> Cancellation:
    """Cancels a PENDING shipment. A cancelled one stays as it is (the contract: cancelling
    twice returns it unchanged); one with the carrier can no longer be cancelled."""
    if shipment.status is ShipmentStatus.CANCELLED:
        return Cancellation(shipment, changed=False)
    if shipment.with_carrier:
        raise AlreadyDispatched(shipment.shipment_id)
    cancelled = replace(
        shipment,
        status=ShipmentStatus.CANCELLED,
        cancel_reason=reason,
        updated_at=now,
        version=shipment.version + 1,
    )
    return Cancellation(cancelled, changed=True)


def is_due(shipment: Shipment, now: datetime) -> bool:
    return shipment.status is ShipmentStatus.PENDING and shipment.dispatch_due_at <= now


def dispatch(shipment: Shipment, now: datetime) -> Shipment:
    """Hands a due PENDING shipment to its carrier."""
    if not is_due(shipment, now):
        raise InvalidShipment("status", f"a {shipment.status.value} shipment is not due")
    return replace(
        shipment, status=ShipmentStatus.DISPATCHED, updated_at=now, version=shipment.version + 1
    )


# --- what shipping consumes -----------------------------------------------------------------
@dataclass(frozen=True)
class OrderCancellation:
    """An order was cancelled (orders' OrderCancelled): its shipment, if any, is cancelled."""

    order_id: str
    shipment_id: str  # empty when the order saga had not created one (as far as it knew)
    reason: str


class OrderCancellationEffect(enum.Enum):
    CANCELLED = "CANCELLED"  # the order's shipment was PENDING and is now cancelled
    ALREADY_CANCELLED = "ALREADY_CANCELLED"  # by saga compensation or CancelShipment
    TOO_LATE = "TOO_LATE"  # it was dispatched first: the parcel is with the carrier
    NO_SHIPMENT = "NO_SHIPMENT"  # the order has none


@dataclass(frozen=True)
class OrderCancellationOutcome:
    effect: OrderCancellationEffect
    shipment: Shipment | None


def cancel_for_order(
    cancellation: OrderCancellation, shipment: Shipment | None, now: datetime
) -> OrderCancellationOutcome:
    """What a cancelled order does to its shipment. Never refuses: the order is cancelled
    whatever shipping thinks, so a shipment already dispatched is reported, not an error."""
    if shipment is None or shipment.order_id != cancellation.order_id:
        return OrderCancellationOutcome(OrderCancellationEffect.NO_SHIPMENT, None)
    if shipment.with_carrier:
        return OrderCancellationOutcome(OrderCancellationEffect.TOO_LATE, shipment)
    result = cancel(shipment, cancellation.reason, now)
    if not result.changed:
        return OrderCancellationOutcome(OrderCancellationEffect.ALREADY_CANCELLED, shipment)
    return OrderCancellationOutcome(OrderCancellationEffect.CANCELLED, result.shipment)
