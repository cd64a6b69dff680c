"""Stock levels and reservations in Postgres: rows to domain objects and back, and the
locks that keep concurrent reservations from overselling.

Lock order, the same in every use case so that they cannot deadlock: the idempotency key
(the unit of work), then a SKU's creation lock (adjustments only), then reservation rows,
then stock level rows in SKU order. An order's cancellation follows it like Confirm and
Release do: its delivery's key, the reservation, then its SKUs' levels.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory.domain import (
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from inventory.tables import reservation_lines, reservations, stock_adjustments, stock_levels


class StockLevels(Protocol):
    """The stock levels, as the use cases need them (StockLevelRepository in Postgres;
    tests have an in-memory one)."""

    async def get(self, sku: str) -> StockLevel | None: ...
    async def lock(self, skus: Collection[str]) -> dict[str, StockLevel]: ...
    async def lock_creation(self, sku: str) -> None: ...
    async def save(self, level: StockLevel) -> None: ...
    async def record_adjustment(
        self, level: StockLevel, *, delta: int, reason: str, reservation_id: str | None = None
    ) -> None: ...
    async def restocked(self, reservation_id: str) -> bool: ...


class Reservations(Protocol):
    """The reservations, as the use cases need them."""

    async def lock(self, reservation_id: str) -> Reservation | None: ...
    async def lock_due(self, now: datetime, *, limit: int) -> list[Reservation]: ...
    async def add(self, reservation: Reservation) -> None: ...
    async def save(self, reservation: Reservation) -> None: ...


@dataclass(frozen=True)
class Repositories:
    """What an inventory unit of work gives its use case."""

    stock: StockLevels
    reservations: Reservations

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(StockLevelRepository(conn), ReservationRepository(conn))


class StockLevelRepository:
    """Reads, locks and writes stock levels inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, sku: str) -> StockLevel | None:
        row = (
            await self._conn.execute(select(stock_levels).where(stock_levels.c.sku == sku))
        ).first()
        return None if row is None else _level(row)

    async def lock(self, skus: Collection[str]) -> dict[str, StockLevel]:
        """The existing levels of `skus`, each locked until the transaction ends. Rows are
        locked in SKU order, so two reservations of the same SKUs in any order queue up
        instead of deadlocking; a waiter then reads the level its predecessor left."""
        rows = await self._conn.execute(
            select(stock_levels)
            .where(stock_levels.c.sku.in_(sorted(skus)))
            .order_by(stock_levels.c.sku)
            .with_for_update()
        )
        return {level.sku: level for level in map(_level, rows.all())}

    async def lock_creation(self, sku: str) -> None:
        """Serializes the writers that may create a SKU's level until the transaction ends.
        A row lock cannot cover a level that does not exist yet: this is an advisory lock."""
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"stock/{sku}"},
        )

    async def save(self, level: StockLevel) -> None:
        values = {
            "sku": level.sku,
            "on_hand": level.on_hand,
            "reserved": level.reserved,
            "low_stock_threshold": level.low_stock_threshold,
            "version": level.version,
            "updated_at": level.updated_at,
        }
        statement = insert(stock_levels).values(values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[stock_levels.c.sku],
                set_={name: statement.excluded[name] for name in values if name != "sku"},
            )
        )

    async def record_adjustment(
        self, level: StockLevel, *, delta: int, reason: str, reservation_id: str | None = None
    ) -> None:
        """Records why `level` changed; a restock names the reservation it put back (a
        second restock of the same reservation line breaks a unique index: a bug)."""
        await self._conn.execute(
            stock_adjustments.insert().values(
                sku=level.sku,
                delta=delta,
                reason=reason,
                on_hand_after=level.on_hand,
                version=level.version,
                reservation_id=reservation_id,
            )
        )

    async def restocked(self, reservation_id: str) -> bool:
        """Whether a restock already put this reservation's units back on hand. Reliable
        while the caller holds the reservation's row lock, as every restock does."""
        found = await self._conn.scalar(
            select(stock_adjustments.c.id)
            .where(stock_adjustments.c.reservation_id == reservation_id)
            .limit(1)
        )
        return found is not None


class ReservationRepository:
    """Reads, locks and writes reservations (and their lines) inside the caller's
    transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, reservation_id: str) -> Reservation | None:
        """The reservation, locked until the transaction ends (None if there is none)."""
        row = (
            await self._conn.execute(
                select(reservations)
                .where(reservations.c.reservation_id == reservation_id)
                .with_for_update()
            )
        ).first()
        if row is None:
            return None
        return (await self._with_lines([row]))[0]

    async def lock_due(self, now: datetime, *, limit: int) -> list[Reservation]:
        """Up to `limit` PENDING reservations past their expire_time, soonest first, locked.
        Rows another transaction holds (a confirm in flight, another instance's sweep)
        are skipped rather than waited for: that one settles them."""
        rows = await self._conn.execute(
            select(reservations)
            .where(
                reservations.c.status == ReservationStatus.PENDING.value,
                reservations.c.expire_time <= now,
            )
            .order_by(reservations.c.expire_time, reservations.c.reservation_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return await self._with_lines(rows.all())

    async def add(self, reservation: Reservation) -> None:
        await self._conn.execute(
            reservations.insert().values(
                reservation_id=reservation.reservation_id,
                order_id=reservation.order_id,
                status=reservation.status.value,
                expire_time=reservation.expire_time,
                created_at=reservation.created_at,
                updated_at=reservation.updated_at,
                version=reservation.version,
            )
        )
        await self._conn.execute(
            reservation_lines.insert(),
            [
                {
                    "reservation_id": reservation.reservation_id,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "position": position,
                }
                for position, line in enumerate(reservation.lines)
            ],
        )

    async def save(self, reservation: Reservation) -> None:
        """Writes a status change; a reservation's lines never change."""
        await self._conn.execute(
            update(reservations)
            .where(reservations.c.reservation_id == reservation.reservation_id)
            .values(
                status=reservation.status.value,
                updated_at=reservation.updated_at,
                version=reservation.version,
            )
        )

    async def _with_lines(self, rows: Sequence[Row[Any]]) -> list[Reservation]:
        ids = [row.reservation_id for row in rows]
        lines: dict[str, list[ReservationLine]] = {reservation_id: [] for reservation_id in ids}
        if ids:
            found = await self._conn.execute(
                select(reservation_lines)
                .where(reservation_lines.c.reservation_id.in_(ids))
                .order_by(reservation_lines.c.reservation_id, reservation_lines.c.position)
            )
            for line in found.all():
                lines[line.reservation_id].append(ReservationLine(line.sku, line.quantity))
        return [_reservation(row, tuple(lines[row.reservation_id])) for row in rows]


def _level(row: Row[Any]) -> StockLevel:
    r = row._mapping
    return StockLevel(
        sku=r["sku"],
        on_hand=r["on_hand"],
        reserved=r["reserved"],
        low_stock_threshold=r["low_stock_threshold"],
        version=r["version"],
        updated_at=r["updated_at"],
    )


def _reservation(row: Row[Any], lines: tuple[ReservationLine, ...]) -> Reservation:
    r = row._mapping
    return Reservation(
        reservation_id=r["reservation_id"],
        order_id=r["order_id"],
        lines=lines,
        status=ReservationStatus(r["status"]),
        expire_time=r["expire_time"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        version=r["version"],
    )
