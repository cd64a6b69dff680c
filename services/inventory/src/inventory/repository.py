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

from sqlalchemy import Text, any_, bindparam, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import Query, execute, execute_many, fetch
from inventory.domain import (
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from inventory.tables import reservation_lines, reservations, stock_adjustments, stock_levels

# Every reservation, confirmation, release and restock runs these (the saga's hot path):
# compiled once, run on the driver. The driver returns UUID columns as uuid.UUID, not str.
_GET_LEVEL = Query(select(stock_levels).where(stock_levels.c.sku == bindparam("sku")))
_LOCK_LEVELS = Query(
    select(stock_levels)
    .where(stock_levels.c.sku == any_(bindparam("skus", type_=ARRAY(Text))))
    .order_by(stock_levels.c.sku)
    .with_for_update()
)
_NEW_LEVEL = insert(stock_levels).values({c.name: bindparam(c.name) for c in stock_levels.c})
_SAVE_LEVEL = Query(
    _NEW_LEVEL.on_conflict_do_update(
        index_elements=[stock_levels.c.sku],
        set_={c.name: _NEW_LEVEL.excluded[c.name] for c in stock_levels.c if c.name != "sku"},
    )
)
_RECORD_ADJUSTMENT = Query(
    stock_adjustments.insert().values(
        {
            name: bindparam(name)
            for name in ("sku", "delta", "reason", "on_hand_after", "version", "reservation_id")
        }
    )
)
_RESTOCKED = Query(
    select(stock_adjustments.c.id)
    .where(stock_adjustments.c.reservation_id == bindparam("reservation_id"))
    .limit(literal_column("1"))
)
_LOCK_RESERVATION = Query(
    select(reservations)
    .where(reservations.c.reservation_id == bindparam("reservation_id"))
    .with_for_update()
)
_LINES = Query(
    select(
        reservation_lines.c.reservation_id, reservation_lines.c.sku, reservation_lines.c.quantity
    )
    .where(
        reservation_lines.c.reservation_id
        == any_(bindparam("reservation_ids", type_=ARRAY(reservation_lines.c.reservation_id.type)))
    )
    .order_by(reservation_lines.c.reservation_id, reservation_lines.c.position)
)
_ADD_RESERVATION = Query(
    reservations.insert().values({c.name: bindparam(c.name) for c in reservations.c})
)
_ADD_LINE = Query(
    reservation_lines.insert().values({c.name: bindparam(c.name) for c in reservation_lines.c})
)
_SAVE_RESERVATION = Query(
    update(reservations)
    .where(reservations.c.reservation_id == bindparam("reservation_id"))
    .values(
        status=bindparam("status"),
        updated_at=bindparam("updated_at"),
        version=bindparam("version"),
    )
)


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
        rows = await fetch(self._conn, _GET_LEVEL, {"sku": sku})
        return _level(rows[0]) if rows else None

    async def lock(self, skus: Collection[str]) -> dict[str, StockLevel]:
        """The existing levels of `skus`, each locked until the transaction ends. Rows are
        locked in SKU order, so two reservations of the same SKUs in any order queue up
        instead of deadlocking; a waiter then reads the level its predecessor left."""
        rows = await fetch(self._conn, _LOCK_LEVELS, {"skus": list(skus)})
        return {level.sku: level for level in map(_level, rows)}

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
        await execute(self._conn, _SAVE_LEVEL, values)

    async def record_adjustment(
        self, level: StockLevel, *, delta: int, reason: str, reservation_id: str | None = None
    ) -> None:
        """Records why `level` changed; a restock names the reservation it put back (a
        second restock of the same reservation line breaks a unique index: a bug)."""
        await execute(
            self._conn,
            _RECORD_ADJUSTMENT,
            {
                "sku": level.sku,
                "delta": delta,
                "reason": reason,
                "on_hand_after": level.on_hand,
                "version": level.version,
                "reservation_id": reservation_id,
            },
        )

    async def restocked(self, reservation_id: str) -> bool:
        """Whether a restock already put this reservation's units back on hand. Reliable
        while the caller holds the reservation's row lock, as every restock does."""
        return bool(await fetch(self._conn, _RESTOCKED, {"reservation_id": reservation_id}))


class ReservationRepository:
    """Reads, locks and writes reservations (and their lines) inside the caller's
    transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, reservation_id: str) -> Reservation | None:
        """The reservation, locked until the transaction ends (None if there is none)."""
        rows = await fetch(self._conn, _LOCK_RESERVATION, {"reservation_id": reservation_id})
        return (await self._with_lines(rows))[0] if rows else None

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
        await execute(
            self._conn,
            _ADD_RESERVATION,
            {
                "reservation_id": reservation.reservation_id,
                "order_id": reservation.order_id,
                "status": reservation.status.value,
                "expire_time": reservation.expire_time,
                "created_at": reservation.created_at,
                "updated_at": reservation.updated_at,
                "version": reservation.version,
            },
        )
        await execute_many(
            self._conn,
            _ADD_LINE,
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
        await execute(
            self._conn,
            _SAVE_RESERVATION,
            {
                "reservation_id": reservation.reservation_id,
                "status": reservation.status.value,
                "updated_at": reservation.updated_at,
                "version": reservation.version,
            },
        )

    async def _with_lines(self, rows: Sequence[Sequence[Any]]) -> list[Reservation]:
        """The reservations of `rows` (of select(reservations), in column order) with their
        lines in position order."""
        ids = [str(row[0]) for row in rows]
        lines: dict[str, list[ReservationLine]] = {reservation_id: [] for reservation_id in ids}
        if ids:
            found = await fetch(self._conn, _LINES, {"reservation_ids": ids})
            for reservation_id, sku, quantity in found:
                lines[str(reservation_id)].append(ReservationLine(sku, quantity))
        return [_reservation(row, tuple(lines[str(row[0])])) for row in rows]


def _level(row: Sequence[Any]) -> StockLevel:
    """A level from a row of select(stock_levels), in column order."""
    sku, on_hand, reserved, low_stock_threshold, version, updated_at = row
    return StockLevel(
        sku=sku,
        on_hand=on_hand,
        reserved=reserved,
        low_stock_threshold=low_stock_threshold,
        version=version,
        updated_at=updated_at,
    )


def _reservation(row: Sequence[Any], lines: tuple[ReservationLine, ...]) -> Reservation:
    """A reservation from a row of select(reservations), in column order; its UUIDs as
    text whether SQLAlchemy or the driver read them."""
    reservation_id, order_id, status, expire_time, created_at, updated_at, version = row
    return Reservation(
        reservation_id=str(reservation_id),
        order_id=str(order_id),
        lines=lines,
        status=ReservationStatus(status),
        expire_time=expire_time,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
    )
