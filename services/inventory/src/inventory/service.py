"""Inventory's use cases: one function each, one unit of work each. Nothing about gRPC:
they take and return domain values.

Every command that changes stock locks what it changes (see repository.py for the order)
before it decides, so concurrent reservations of the last units queue up and exactly as
many win as there are units. `@retry_conflicts` is the safety net for what Postgres still
aborts as a conflict. Commands take a `clock` so tests can move time instead of waiting.

Besides the gRPC commands, one use case runs on an event: `release_or_restock_cancelled_order`,
inventory's part in cancelling an order (orders' OrderCancelled, choreographed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chassis.uow import UnitOfWork, retry_conflicts
from inventory import domain, events
from inventory.domain import (
    Adjustment,
    CancellationChange,
    CancellationEffect,
    OpeningStock,
    OrderCancellation,
    Reservation,
    ReservationChange,
    ReservationNotFound,
    ReservationRequest,
    ReservationStatus,
    StockLevel,
    StockLevelNotFound,
)
from inventory.repository import Repositories

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEFAULT_RESERVATION_TTL = timedelta(minutes=15)
EXPIRY_BATCH = 100


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Confirmation:
    """What ConfirmReservation asks for (the request its idempotency key is bound to)."""

    reservation_id: str


@dataclass(frozen=True)
class Release:
    """What ReleaseReservation asks for (the request its idempotency key is bound to)."""

    reservation_id: str
    detail: str


@dataclass(frozen=True)
class CancellationOutcome:
    """What an OrderCancelled did (stored under its delivery's key, so a redelivery gets
    it back instead of acting again)."""

    effect: CancellationEffect
    reservation: Reservation | None  # as the cancellation left it; None: none found


async def get_stock(uow: UnitOfWork[Repositories], sku: str) -> StockLevel:
    async with uow:
        level = await uow.repos.stock.get(sku)
    if level is None:
        raise StockLevelNotFound(sku)
    return level


@retry_conflicts
async def reserve_stock(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    request: ReservationRequest,
    default_ttl: timedelta = DEFAULT_RESERVATION_TTL,
    clock: Clock = utc_now,
) -> Reservation:
    """Holds stock for every line of an order, or for none (InsufficientStock)."""
    async with uow:
        earlier = await uow.claim(idempotency_key, request, Reservation)
        if earlier is not None:
            return earlier
        levels = await uow.repos.stock.lock([line.sku for line in request.lines])
        ttl = default_ttl if request.ttl_seconds is None else timedelta(seconds=request.ttl_seconds)
        change = domain.reserve(
            levels, request, reservation_id=str(uuid.uuid4()), ttl=ttl, now=clock()
        )
        await uow.repos.reservations.add(change.reservation)
        await _save_levels(uow, change.levels)
        _emit(uow, events.reservation_events(change))
        await uow.commit(change.reservation)
    return change.reservation


@retry_conflicts
async def confirm_reservation(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    reservation_id: str,
    clock: Clock = utc_now,
) -> Reservation:
    """The order went through: the reserved units leave stock (CONFIRMED)."""
    async with uow:
        earlier = await uow.claim(idempotency_key, Confirmation(reservation_id), Reservation)
        if earlier is not None:
            return earlier
        reservation, levels = await _lock_reservation(uow, reservation_id)
        change = domain.confirm(reservation, levels, clock())
        await _save_reservation_change(uow, change)
        await uow.commit(change.reservation)
    return change.reservation


@retry_conflicts
async def release_reservation(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    reservation_id: str,
    detail: str,
    clock: Clock = utc_now,
) -> Reservation:
    """The saga compensates: the reserved units are available again (RELEASED, or EXPIRED
    if the reservation was overdue)."""
    async with uow:
        earlier = await uow.claim(idempotency_key, Release(reservation_id, detail), Reservation)
        if earlier is not None:
            return earlier
        reservation, levels = await _lock_reservation(uow, reservation_id)
        change = domain.release(reservation, levels, detail, clock())
        await _save_reservation_change(uow, change)
        await uow.commit(change.reservation)
    return change.reservation


@retry_conflicts
async def expire_due_reservations(
    uow: UnitOfWork[Repositories], *, limit: int = EXPIRY_BATCH, clock: Clock = utc_now
) -> int:
    """Expires up to `limit` PENDING reservations past their expire_time, returning their
    stock; how many it expired (the sweeper calls again while a batch comes back full)."""
    async with uow:
        now = clock()
        due = await uow.repos.reservations.lock_due(now, limit=limit)
        if not due:
            return 0
        levels = await uow.repos.stock.lock({line.sku for r in due for line in r.lines})
        changed: dict[str, StockLevel] = {}
        for reservation in due:
            change = domain.expire(reservation, levels, now)
            moved = {level.sku: level for level in change.levels}
            levels |= moved  # the next reservation of the same SKU starts from here
            changed |= moved
            await uow.repos.reservations.save(change.reservation)
            _emit(uow, events.reservation_events(change))
        await _save_levels(uow, changed.values())
        await uow.commit()
    return len(due)


@retry_conflicts
async def adjust_stock(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    adjustment: Adjustment,
    clock: Clock = utc_now,
) -> StockLevel:
    """Adds or removes units on hand, recording why; creates the level on the first
    positive adjustment of a SKU."""
    async with uow:
        earlier = await uow.claim(idempotency_key, adjustment, StockLevel)
        if earlier is not None:
            return earlier
        stock = uow.repos.stock
        await stock.lock_creation(adjustment.sku)
        existing = (await stock.lock([adjustment.sku])).get(adjustment.sku)
        adjusted = domain.adjust(existing, adjustment, clock())
        await stock.save(adjusted.level)
        await stock.record_adjustment(
            adjusted.level, delta=adjustment.delta, reason=adjustment.reason
        )
        _emit(uow, events.adjustment_events(adjusted))
        await uow.commit(adjusted.level)
    return adjusted.level


@retry_conflicts
async def open_stock(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    opening: OpeningStock,
    reason: str,
    clock: Clock = utc_now,
) -> StockLevel:
    """Gives a SKU inventory does not hold yet its opening stock (recorded as an
    adjustment with `reason`), and sets an existing SKU's low-stock threshold only."""
    async with uow:
        earlier = await uow.claim(idempotency_key, opening, StockLevel)
        if earlier is not None:
            return earlier
        stock = uow.repos.stock
        await stock.lock_creation(opening.sku)
        existing = (await stock.lock([opening.sku])).get(opening.sku)
        level = domain.open_stock(existing, opening, clock())
        if level != existing:
            await stock.save(level)
        if existing is None:
            await stock.record_adjustment(level, delta=level.on_hand, reason=reason)
        await uow.commit(level)
    return level


@retry_conflicts
async def release_or_restock_cancelled_order(
    uow: UnitOfWork[Repositories],
    *,
    event_key: str,
    cancellation: OrderCancellation,
    clock: Clock = utc_now,
) -> CancellationOutcome:
    """Inventory's part in cancelling an order (orders' OrderCancelled, choreographed):
    a PENDING reservation is released (ReservationReleased, reason ORDER_CANCELLED; an
    overdue one is expired, reason EXPIRED, as ReleaseReservation does); a CONFIRMED one
    is restocked, its units back on hand with one stock_adjustments row per line naming
    the order, and ReservationRestocked published (orders waits for it to settle the
    cancellation).

    `event_key` is the delivery's idempotency key (chassis.consumer.Delivery.key),
    claimed with the effect: a redelivery returns the first outcome and does nothing
    again. A restock is also recorded against the reservation, so another OrderCancelled
    for it (another event id, a replay under another consumer) restocks nothing.

    Never refuses a legitimate no-op (logged at INFO, the event counts as handled): no
    reservation named, an unknown one, one already released or expired. A reservation of
    another order raises ReservationOrderMismatch, so the event is dead-lettered.

    Locks as Confirm and Release do (the key, the reservation, its SKUs' levels), so a
    racing saga compensation or confirmation queues behind it or it behind them, and
    whichever comes second finds the reservation settled."""
    async with uow:
        earlier = await uow.claim(event_key, cancellation, CancellationOutcome)
        if earlier is not None:
            log.debug("order %s: cancellation already handled", cancellation.order_id)
            return earlier
        reservation, levels, restocked = await _lock_for_cancellation(uow, cancellation)
        change = domain.settle_cancellation(
            cancellation, reservation, levels, restocked=restocked, now=clock()
        )
        if change.released is not None:
            await _save_reservation_change(uow, change.released)
        for restock in change.restocks:
            await uow.repos.stock.save(restock.level)
            await uow.repos.stock.record_adjustment(
                restock.level,
                delta=restock.adjustment.delta,
                reason=restock.adjustment.reason,
                reservation_id=cancellation.reservation_id,
            )
        _emit(uow, events.cancellation_events(cancellation, change))
        outcome = CancellationOutcome(change.effect, change.reservation)
        await uow.commit(outcome)
    _log_cancellation(cancellation, change)
    return outcome


async def _lock_for_cancellation(
    uow: UnitOfWork[Repositories], cancellation: OrderCancellation
) -> tuple[Reservation | None, dict[str, StockLevel], bool]:
    """The named reservation (locked), its SKUs' levels (locked) while there is stock to
    move, and whether it was restocked before."""
    if cancellation.reservation_id is None:
        return None, {}, False
    reservation = await uow.repos.reservations.lock(cancellation.reservation_id)
    if reservation is None or reservation.order_id != cancellation.order_id:
        return reservation, {}, False  # nothing to move (the domain says why)
    if reservation.status is ReservationStatus.CONFIRMED and await uow.repos.stock.restocked(
        reservation.reservation_id
    ):
        return reservation, {}, True
    if reservation.status not in (ReservationStatus.PENDING, ReservationStatus.CONFIRMED):
        return reservation, {}, False  # released or expired: it holds nothing
    return reservation, await uow.repos.stock.lock([line.sku for line in reservation.lines]), False


def _log_cancellation(cancellation: OrderCancellation, change: CancellationChange) -> None:
    """What the cancellation did, or why it did nothing, at INFO: each is expected."""
    order, reservation_id = cancellation.order_id, cancellation.reservation_id
    match change.effect:
        case CancellationEffect.RELEASED:
            log.info("order %s cancelled: reservation %s released", order, reservation_id)
        case CancellationEffect.EXPIRED:
            log.info("order %s cancelled: reservation %s had expired", order, reservation_id)
        case CancellationEffect.RESTOCKED:
            units = sum(r.adjustment.delta for r in change.restocks)
            log.info(
                "order %s cancelled: confirmed reservation %s restocked (%d units)",
                order,
                reservation_id,
                units,
            )
        case CancellationEffect.ALREADY_ENDED:
            log.info(
                "order %s cancelled: reservation %s was already %s; nothing to do",
                order,
                reservation_id,
                change.reservation.status.value if change.reservation else "ended",
            )
        case CancellationEffect.ALREADY_RESTOCKED:
            log.info(
                "order %s cancelled: reservation %s was restocked before; nothing to do",
                order,
                reservation_id,
            )
        case CancellationEffect.NONE_MADE:
            log.info("order %s cancelled: it had no reservation; nothing to do", order)
        case CancellationEffect.UNKNOWN:
            log.info(
                "order %s cancelled: inventory has no reservation %s; nothing to do",
                order,
                reservation_id,
            )


async def _lock_reservation(
    uow: UnitOfWork[Repositories], reservation_id: str
) -> tuple[Reservation, dict[str, StockLevel]]:
    """The reservation and, while it holds stock, its SKUs' levels, all locked."""
    reservation = await uow.repos.reservations.lock(reservation_id)
    if reservation is None:
        raise ReservationNotFound(reservation_id)
    if reservation.status is not ReservationStatus.PENDING:
        return reservation, {}  # final: nothing to move
    return reservation, await uow.repos.stock.lock([line.sku for line in reservation.lines])


async def _save_reservation_change(
    uow: UnitOfWork[Repositories], change: ReservationChange
) -> None:
    if not change.changed:
        return
    await uow.repos.reservations.save(change.reservation)
    await _save_levels(uow, change.levels)
    _emit(uow, events.reservation_events(change))


async def _save_levels(uow: UnitOfWork[Repositories], levels: Iterable[StockLevel]) -> None:
    for level in levels:
        await uow.repos.stock.save(level)


def _emit(uow: UnitOfWork[Repositories], emitted: Iterable[events.Event]) -> None:
    for aggregate_id, event in emitted:
        uow.emit(event, aggregate_id)
