"""Shipping's use cases: one function each, one unit of work each. Nothing about gRPC:
they take and return domain values.

Commands claim their idempotency key first, so a retry returns the first outcome even if
the world changed since (a new rate table, a dispatch).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from chassis.uow import UnitOfWork, retry_conflicts
from shipping import domain, events
from shipping.domain import (
    Address,
    OrderCancellation,
    OrderCancellationEffect,
    OrderCancellationOutcome,
    ParcelLine,
    Shipment,
    ShipmentNotFound,
    ShipmentRequest,
)
from shipping.rates import Carriers, RateTable, ShippingOption, parcel_weight_grams
from shipping.repository import Repositories
from shipping.weights import ProductWeights

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DISPATCH_BATCH = 50  # shipments one dispatch round hands over in one transaction


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- quotes ---------------------------------------------------------------------------------
async def quote_shipping(
    rates: RateTable,
    weights: ProductWeights,
    *,
    destination: Address,
    lines: Sequence[ParcelLine],
    currency: str,
) -> list[ShippingOption]:
    """The service levels that deliver the parcel to `destination`, cheapest first.

    Reads no state of shipping's own (the rate table is loaded data), so no unit of work.
    DestinationNotServed is decided before the catalog is asked anything."""
    domain.check_lines(tuple(lines))
    rates.check_served(destination.country_code)
    unit_weights = await weights.weights_grams([line.sku for line in lines])
    weight = parcel_weight_grams(unit_weights, {line.sku: line.quantity for line in lines})
    return rates.quote(destination.country_code, weight, currency)


# --- shipments ------------------------------------------------------------------------------
@retry_conflicts
async def create_shipment(
    uow: UnitOfWork[Repositories],
    carriers: Carriers,
    *,
    idempotency_key: str,
    request: ShipmentRequest,
    clock: Clock = utc_now,
) -> Shipment:
    """Creates the order's shipment in PENDING, booked with the carrier that serves the
    destination at the requested level, and records ShipmentCreated; once per key."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Shipment)
        if earlier is not None:
            return earlier
        now = clock()
        pickup = carriers.pickup(request.address, request.service_level, now)
        shipments = uow.repos.shipments
        await shipments.lock_order(request.order_id)
        shipment = domain.create(
            request,
            shipment_id=str(uuid.uuid4()),
            pickup=pickup,
            now=now,
            live_shipment=await shipments.live_for_order(request.order_id),
        )
        await shipments.add(shipment)
        uow.emit(events.created(shipment), shipment.shipment_id)
        await uow.commit(shipment)
    return shipment


@dataclass(frozen=True)
class CancelRequest:
    """A CancelShipment command: what its idempotency key is claimed for."""

    shipment_id: str
    reason: str


@retry_conflicts
async def cancel_shipment(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    shipment_id: str,
    reason: str,
    clock: Clock = utc_now,
) -> Shipment:
    """Cancels a shipment before dispatch and records ShipmentCancelled; a cancelled one is
    returned as it is, without an event. Once per key."""
    async with uow:
        earlier = await uow.claim(idempotency_key, CancelRequest(shipment_id, reason), Shipment)
        if earlier is not None:
            return earlier
        shipment = await uow.repos.shipments.lock(shipment_id)
        if shipment is None:
            raise ShipmentNotFound(shipment_id)
        result = domain.cancel(shipment, reason, clock())
        if result.changed:
            await uow.repos.shipments.save(result.shipment)
            uow.emit(events.cancelled(result.shipment), shipment_id)
        await uow.commit(result.shipment)
    return result.shipment


async def get_shipment(uow: UnitOfWork[Repositories], shipment_id: str) -> Shipment:
    async with uow:
        shipment = await uow.repos.shipments.get(shipment_id)
    if shipment is None:
        raise ShipmentNotFound(shipment_id)
    return shipment


@retry_conflicts
async def dispatch_due_shipments(
    uow: UnitOfWork[Repositories], *, clock: Clock = utc_now, limit: int = DISPATCH_BATCH
) -> list[Shipment]:
    """Hands up to `limit` due shipments to their carriers and records ShipmentDispatched
    for each. Two instances running this at once dispatch each shipment once: each skips
    the rows the other has locked."""
    async with uow:
        now = clock()
        due = await uow.repos.shipments.lock_due(now, limit=limit)
        dispatched = [domain.dispatch(shipment, now) for shipment in due]
        for shipment in dispatched:
            await uow.repos.shipments.save(shipment)
            uow.emit(events.dispatched(shipment), shipment.shipment_id)
        await uow.commit()
    return dispatched


# --- what shipping consumes -----------------------------------------------------------------
@retry_conflicts
async def cancel_for_cancelled_order(
    uow: UnitOfWork[Repositories],
    *,
    event_key: str,
    cancellation: OrderCancellation,
    clock: Clock = utc_now,
) -> OrderCancellationOutcome:
    """Cancels the shipment of a cancelled order (choreographed: orders' OrderCancelled).

    `event_key` is the delivery's idempotency key (chassis.consumer.Delivery.key): it is
    claimed with the effect, so a redelivery of the same event has no second effect. Never
    refuses: a shipment that is already cancelled, already dispatched, or was never
    created is recorded as such and the event counts as handled."""
    async with uow:
        earlier = await uow.claim(event_key, cancellation, OrderCancellationOutcome)
        if earlier is not None:
            return earlier
        shipments = uow.repos.shipments
        await shipments.lock_order(cancellation.order_id)  # a concurrent CreateShipment waits
        if cancellation.shipment_id:
            shipment = await shipments.lock(cancellation.shipment_id)
        else:
            shipment = await shipments.live_for_order(cancellation.order_id)
        outcome = domain.cancel_for_order(cancellation, shipment, clock())
        if outcome.effect is OrderCancellationEffect.CANCELLED and outcome.shipment is not None:
            await shipments.save(outcome.shipment)
            uow.emit(events.cancelled(outcome.shipment), outcome.shipment.shipment_id)
        elif outcome.effect is OrderCancellationEffect.TOO_LATE:
            log.warning(
                "order %s was cancelled after its shipment was dispatched",
                cancellation.order_id,
            )
        await uow.commit(outcome)
    return outcome
