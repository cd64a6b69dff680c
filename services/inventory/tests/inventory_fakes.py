"""In-memory repositories for the use-case tests (chassis.testing.InMemoryUnitOfWork)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from chassis.testing import InMemoryUnitOfWork
from inventory.domain import Reservation, ReservationStatus, StockLevel
from inventory.repository import Repositories


@dataclass(frozen=True)
class RecordedAdjustment:
    sku: str
    delta: int
    reason: str
    on_hand_after: int
    reservation_id: str | None = None  # a restock's reservation


class InMemoryStockLevels:
    def __init__(self, *levels: StockLevel) -> None:
        self.saved: dict[str, StockLevel] = {level.sku: level for level in levels}
        self.adjustments: list[RecordedAdjustment] = []

    async def get(self, sku: str) -> StockLevel | None:
        return self.saved.get(sku)

    async def lock(self, skus: Collection[str]) -> dict[str, StockLevel]:
        return {sku: self.saved[sku] for sku in sorted(skus) if sku in self.saved}

    async def lock_creation(self, sku: str) -> None:
        pass  # one task at a time in memory

    async def save(self, level: StockLevel) -> None:
        self.saved[level.sku] = level

    async def record_adjustment(
        self, level: StockLevel, *, delta: int, reason: str, reservation_id: str | None = None
    ) -> None:
        if reservation_id is not None and any(
            (a.reservation_id, a.sku) == (reservation_id, level.sku) for a in self.adjustments
        ):  # as the unique index stock_adjustments_restock_once refuses it
            raise AssertionError(f"{reservation_id} {level.sku} restocked twice")
        self.adjustments.append(
            RecordedAdjustment(level.sku, delta, reason, level.on_hand, reservation_id)
        )

    async def restocked(self, reservation_id: str) -> bool:
        return any(a.reservation_id == reservation_id for a in self.adjustments)


class InMemoryReservations:
    def __init__(self) -> None:
        self.saved: dict[str, Reservation] = {}

    async def lock(self, reservation_id: str) -> Reservation | None:
        return self.saved.get(reservation_id)

    async def lock_due(self, now: datetime, *, limit: int) -> list[Reservation]:
        due = sorted(
            (
                r
                for r in self.saved.values()
                if r.status is ReservationStatus.PENDING and r.expire_time <= now
            ),
            key=lambda r: r.expire_time,
        )
        return due[:limit]

    async def add(self, reservation: Reservation) -> None:
        self.saved[reservation.reservation_id] = reservation

    async def save(self, reservation: Reservation) -> None:
        self.saved[reservation.reservation_id] = reservation


def in_memory_uow(*levels: StockLevel) -> InMemoryUnitOfWork[Repositories]:
    return InMemoryUnitOfWork(Repositories(InMemoryStockLevels(*levels), InMemoryReservations()))


def stock_of(uow: InMemoryUnitOfWork[Repositories]) -> InMemoryStockLevels:
    stock = uow.repos.stock
    assert isinstance(stock, InMemoryStockLevels)
    return stock


def reservations_of(uow: InMemoryUnitOfWork[Repositories]) -> InMemoryReservations:
    reservations = uow.repos.reservations
    assert isinstance(reservations, InMemoryReservations)
    return reservations
