"""Example values and a controllable clock, shared by inventory's unit and integration
tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from chassis.uow import SqlUnitOfWork, UnitOfWork
from inventory import service
from inventory.domain import (
    OpeningStock,
    Reservation,
    ReservationLine,
    ReservationRequest,
    StockLevel,
)
from inventory.repository import Repositories

UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ORDER_ID = "7f1c0a52-3d9e-4b8f-a6c2-1e5d9b3f7a40"


def new_key() -> str:
    return str(uuid.uuid4())


def level(
    sku: str = "KIT-KNIFE-1",
    *,
    on_hand: int = 10,
    reserved: int = 0,
    threshold: int | None = None,
    version: int = 1,
) -> StockLevel:
    return StockLevel(sku, on_hand, reserved, threshold, version, updated_at=T0)


def request(
    *lines: tuple[str, int], order_id: str = ORDER_ID, ttl_seconds: float | None = None
) -> ReservationRequest:
    """`request(("KIT-KNIFE-1", 2), ("KIT-PAN-2", 1))`: one line per (SKU, quantity)."""
    return ReservationRequest(
        order_id=order_id,
        lines=tuple(ReservationLine(sku, quantity) for sku, quantity in lines),
        ttl_seconds=ttl_seconds,
    )


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def stock_up(
    uow: Callable[[], UnitOfWork[Repositories]],
    sku: str,
    on_hand: int,
    *,
    threshold: int | None = None,
) -> StockLevel:
    """A SKU with `on_hand` units and no reservations, through the ordinary use case."""
    return await service.open_stock(
        uow(),
        idempotency_key=new_key(),
        opening=OpeningStock(sku, on_hand, threshold),
        reason="test stock",
    )


async def stored_reservation(
    uow: Callable[[], UnitOfWork[Repositories]], reservation_id: str
) -> Reservation:
    async with uow() as unit:
        found = await unit.repos.reservations.lock(reservation_id)
    assert found is not None
    return found
