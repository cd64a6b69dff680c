"""Shipments in Postgres: rows to domain objects and back, and the locks that keep an order
to one live shipment and a shipment to one dispatch.

Lock order, the same in every use case so that they cannot deadlock: the idempotency key
(the unit of work), then an order's lock, then shipment rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, Select, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from shipping.domain import Address, ParcelLine, ServiceLevel, Shipment, ShipmentStatus
from shipping.tables import shipment_lines, shipments


class Shipments(Protocol):
    """The shipments, as the use cases need them (ShipmentRepository in Postgres; tests
    have an in-memory one)."""

    async def get(self, shipment_id: str) -> Shipment | None: ...
    async def lock(self, shipment_id: str) -> Shipment | None: ...
    async def lock_order(self, order_id: str) -> None: ...
    async def live_for_order(self, order_id: str) -> Shipment | None: ...
    async def lock_due(self, now: datetime, *, limit: int) -> list[Shipment]: ...
    async def add(self, shipment: Shipment) -> None: ...
    async def save(self, shipment: Shipment) -> None: ...


@dataclass(frozen=True)
class Repositories:
    """What a shipping unit of work gives its use case."""

    shipments: Shipments

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(ShipmentRepository(conn))


class ShipmentRepository:
    """Reads, locks and writes shipments (and their lines) inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, shipment_id: str) -> Shipment | None:
        return await self._one(select(shipments).where(shipments.c.shipment_id == shipment_id))

    async def lock(self, shipment_id: str) -> Shipment | None:
        """The shipment, locked until the transaction ends (None if there is none). A
        dispatch in flight makes this wait, then read what it left."""
        return await self._one(
            select(shipments).where(shipments.c.shipment_id == shipment_id).with_for_update()
        )

    async def lock_order(self, order_id: str) -> None:
        """Serializes the commands about one order's shipment until the transaction ends.
        A row lock cannot cover a shipment that does not exist yet: an advisory lock."""
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"orders/{order_id}"},
        )

    async def live_for_order(self, order_id: str) -> Shipment | None:
        """The order's shipment that is not cancelled, locked (at most one exists)."""
        return await self._one(
            select(shipments)
            .where(
                shipments.c.order_id == order_id,
                shipments.c.status != ShipmentStatus.CANCELLED.value,
            )
            .with_for_update()
        )

    async def lock_due(self, now: datetime, *, limit: int) -> list[Shipment]:
        """Up to `limit` PENDING shipments due for pickup, soonest first, locked. Rows another
        transaction holds (a cancel in flight, another instance's dispatch round) are
        skipped rather than waited for: that one settles them."""
        rows = await self._conn.execute(
            select(shipments)
            .where(
                shipments.c.status == ShipmentStatus.PENDING.value,
                shipments.c.dispatch_due_at <= now,
            )
            .order_by(shipments.c.dispatch_due_at, shipments.c.shipment_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return await self._with_lines(rows.all())

    async def add(self, shipment: Shipment) -> None:
        address = shipment.address
        await self._conn.execute(
            shipments.insert().values(
                shipment_id=shipment.shipment_id,
                order_id=shipment.order_id,
                customer_id=shipment.customer_id,
                recipient=address.recipient,
                address_lines=list(address.lines),
                locality=address.locality,
                region=address.region,
                postal_code=address.postal_code,
                country_code=address.country_code,
                service_level=shipment.service_level.value,
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                created_at=shipment.created_at,
                **_changing(shipment),
            )
        )
        await self._conn.execute(
            shipment_lines.insert(),
            [
                {
                    "shipment_id": shipment.shipment_id,
                    "position": position,
                    "sku": line.sku,
                    "quantity": line.quantity,
                }
                for position, line in enumerate(shipment.lines)
            ],
        )

    async def save(self, shipment: Shipment) -> None:
        """Writes a change of state; what a shipment delivers, where and how never changes."""
        await self._conn.execute(
            update(shipments)
            .where(shipments.c.shipment_id == shipment.shipment_id)
            .values(**_changing(shipment))
        )

    async def _one(self, query: Select[Any]) -> Shipment | None:
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return (await self._with_lines([row]))[0]

    async def _with_lines(self, rows: Sequence[Row[Any]]) -> list[Shipment]:
        ids = [row.shipment_id for row in rows]
        lines: dict[str, list[ParcelLine]] = {shipment_id: [] for shipment_id in ids}
        if ids:
            found = await self._conn.execute(
                select(shipment_lines)
                .where(shipment_lines.c.shipment_id.in_(ids))
                .order_by(shipment_lines.c.shipment_id, shipment_lines.c.position)
            )
            for line in found.all():
                lines[line.shipment_id].append(ParcelLine(line.sku, line.quantity))
        return [_shipment(row, tuple(lines[row.shipment_id])) for row in rows]


def _changing(shipment: Shipment) -> dict[str, object]:
    """The columns a change of state writes."""
    return {
        "status": shipment.status.value,
        "dispatch_due_at": shipment.dispatch_due_at,
        "cancel_reason": shipment.cancel_reason,
        "updated_at": shipment.updated_at,
        "version": shipment.version,
    }


def _shipment(row: Row[Any], lines: tuple[ParcelLine, ...]) -> Shipment:
    r = row._mapping
    return Shipment(
        shipment_id=r["shipment_id"],
        order_id=r["order_id"],
        customer_id=r["customer_id"],
        status=ShipmentStatus(r["status"]),
        address=Address(
            recipient=r["recipient"],
            lines=tuple(r["address_lines"]),
            locality=r["locality"],
            region=r["region"],
            postal_code=r["postal_code"],
            country_code=r["country_code"],
        ),
        lines=lines,
        service_level=ServiceLevel(r["service_level"]),
        carrier=r["carrier"],
        tracking_number=r["tracking_number"],
        dispatch_due_at=r["dispatch_due_at"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        version=r["version"],
        cancel_reason=r["cancel_reason"],
    )
