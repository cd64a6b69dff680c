"""Shipments in Postgres: rows to domain objects and back, and the locks that keep an order
to one live shipment and a shipment to one dispatch.

Lock order, the same in every use case so that they cannot deadlock: the idempotency key
(the unit of work), then an order's lock, then shipment rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, any_, bindparam, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import Query, execute, execute_many, fetch
from shipping.domain import Address, ParcelLine, ServiceLevel, Shipment, ShipmentStatus
from shipping.tables import shipment_lines, shipments

_COLUMNS = [c.name for c in shipments.c]
# What a save writes: the columns _changing fills.
_CHANGING = ("status", "dispatch_due_at", "cancel_reason", "updated_at", "version")
# Statuses as literals, like the partial indexes' predicates, so that a prepared plan can
# use those indexes.
_NOT_CANCELLED = shipments.c.status != literal_column(f"'{ShipmentStatus.CANCELLED.value}'")
_PENDING = shipments.c.status == literal_column(f"'{ShipmentStatus.PENDING.value}'")
# Every shipment created, cancelled and dispatched runs these (the per-order hot path):
# compiled once, run on the driver. UUID columns come back as uuid.UUID from the driver.
_LOCK_ORDER = Query(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"))
_GET = Query(select(shipments).where(shipments.c.shipment_id == bindparam("shipment_id")))
_LOCK = Query(
    select(shipments).where(shipments.c.shipment_id == bindparam("shipment_id")).with_for_update()
)
_LOCK_LIVE_FOR_ORDER = Query(
    select(shipments)
    .where(shipments.c.order_id == bindparam("order_id"), _NOT_CANCELLED)
    .with_for_update()
)
_LOCK_DUE = Query(
    select(shipments)
    .where(_PENDING, shipments.c.dispatch_due_at <= bindparam("now"))
    .order_by(shipments.c.dispatch_due_at, shipments.c.shipment_id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
_LINES = Query(
    select(shipment_lines.c.shipment_id, shipment_lines.c.sku, shipment_lines.c.quantity)
    .where(
        shipment_lines.c.shipment_id
        == any_(bindparam("shipment_ids", type_=ARRAY(shipment_lines.c.shipment_id.type)))
    )
    .order_by(shipment_lines.c.shipment_id, shipment_lines.c.position)
)
_ADD = Query(shipments.insert().values({name: bindparam(name) for name in _COLUMNS}))
_ADD_LINE = Query(
    shipment_lines.insert().values({c.name: bindparam(c.name) for c in shipment_lines.c})
)
_SAVE = Query(
    update(shipments)
    .where(shipments.c.shipment_id == bindparam("shipment_id"))
    .values({name: bindparam(name) for name in _CHANGING})
)


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
        return await self._one(_GET, {"shipment_id": shipment_id})

    async def lock(self, shipment_id: str) -> Shipment | None:
        """The shipment, locked until the transaction ends (None if there is none). A
        dispatch in flight makes this wait, then read what it left."""
        return await self._one(_LOCK, {"shipment_id": shipment_id})

    async def lock_order(self, order_id: str) -> None:
        """Serializes the commands about one order's shipment until the transaction ends.
        A row lock cannot cover a shipment that does not exist yet: an advisory lock."""
        await execute(self._conn, _LOCK_ORDER, {"key": f"orders/{order_id}"})

    async def live_for_order(self, order_id: str) -> Shipment | None:
        """The order's shipment that is not cancelled, locked (at most one exists)."""
        return await self._one(_LOCK_LIVE_FOR_ORDER, {"order_id": order_id})

    async def lock_due(self, now: datetime, *, limit: int) -> list[Shipment]:
        """Up to `limit` PENDING shipments due for pickup, soonest first, locked. Rows another
        transaction holds (a cancel in flight, another instance's dispatch round) are
        skipped rather than waited for: that one settles them."""
        rows = await fetch(self._conn, _LOCK_DUE, {"now": now, "limit": limit})
        return await self._with_lines(rows)

    async def add(self, shipment: Shipment) -> None:
        address = shipment.address
        await execute(
            self._conn,
            _ADD,
            {
                "shipment_id": shipment.shipment_id,
                "order_id": shipment.order_id,
                "customer_id": shipment.customer_id,
                "recipient": address.recipient,
                "address_lines": list(address.lines),
                "locality": address.locality,
                "region": address.region,
                "postal_code": address.postal_code,
                "country_code": address.country_code,
                "service_level": shipment.service_level.value,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "created_at": shipment.created_at,
                **_changing(shipment),
            },
        )
        await execute_many(
            self._conn,
            _ADD_LINE,
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
        await execute(
            self._conn, _SAVE, {"shipment_id": shipment.shipment_id, **_changing(shipment)}
        )

    async def _one(self, query: Query, params: Mapping[str, Any]) -> Shipment | None:
        rows = await fetch(self._conn, query, params)
        return (await self._with_lines(rows))[0] if rows else None

    async def _with_lines(self, rows: Sequence[tuple[Any, ...]]) -> list[Shipment]:
        """Shipments from rows of the shipments table, with their lines (one query for all)."""
        shipment_rows = [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
        lines: dict[str, list[ParcelLine]] = {str(r["shipment_id"]): [] for r in shipment_rows}
        if lines:
            params = {"shipment_ids": list(lines)}
            for shipment_id, sku, quantity in await fetch(self._conn, _LINES, params):
                lines[str(shipment_id)].append(ParcelLine(sku, quantity))
        return [_shipment(r, tuple(lines[str(r["shipment_id"])])) for r in shipment_rows]


def _changing(shipment: Shipment) -> dict[str, object]:
    """The columns a change of state writes."""
    return {
        "status": shipment.status.value,
        "dispatch_due_at": shipment.dispatch_due_at,
        "cancel_reason": shipment.cancel_reason,
        "updated_at": shipment.updated_at,
        "version": shipment.version,
    }


def _shipment(r: Mapping[str, Any], lines: tuple[ParcelLine, ...]) -> Shipment:
    """A shipment from a row of the shipments table, by column name."""
    return Shipment(
        shipment_id=str(r["shipment_id"]),
        order_id=str(r["order_id"]),
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
