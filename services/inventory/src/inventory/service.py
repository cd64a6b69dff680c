"""Inventory's use cases: one function each, one unit of work each. Nothing about gRPC:
they take and return domain values.

Every command that changes stock locks what it changes (see repository.py for the order)
before it decides, so concurrent reservations of the last units queue up and exactly as
many win as there are units. `@retry_conflicts` is the safety net for what Postgres still
aborts as a conflict. Commands take a `clock` so tests can move time instead of waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chassis.uow import UnitOfWork, retry_conflicts
from inventory import domain, events
from inventory.domain import (
    Adjustment,
    OpeningStock,
    Reservation,
    ReservationChange,
    ReservationNotFound,
    ReservationRequest,
    ReservationStatus,
    StockLevel,
    StockLevelNotFound,
)
from inventory.repository import Repositories

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
