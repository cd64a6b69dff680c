"""Orders, sagas and the catalog price read model in Postgres: rows to domain values and back."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, Table, Text, any_, bindparam, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import records
from chassis.db import Query, execute, fetch
from orders import tables
from orders.domain import (
    Address,
    CatalogPrice,
    DeliveryStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    RejectionReason,
    ShippingSpeed,
)
from orders.history import DeliveryFact, Entry, OrderFact, PaymentFact
from orders.saga import Phase, Saga, StepKind, StepRecord


@dataclass(frozen=True)
class Position:
    """Where a page of orders (newest first) continues: after this one."""

    created_at: datetime
    order_id: str


class Orders(Protocol):
    async def add(self, order: Order) -> None: ...
    async def get(self, order_id: str) -> Order | None: ...
    async def lock(self, order_id: str) -> Order | None: ...
    async def save(self, order: Order) -> None: ...
    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Order]: ...


class Sagas(Protocol):
    async def add(self, saga: Saga) -> None: ...
    async def get(self, order_id: str) -> Saga | None: ...
    async def lock(self, order_id: str) -> Saga | None: ...
    async def save(self, saga: Saga) -> None: ...
    async def claim(
        self, now: datetime, *, lease: str, owner: str, until: datetime, limit: int
    ) -> list[str]:
        """Leases up to `limit` unfinished sagas due by `now` to this runner (ones another
        runner holds locked are skipped, not waited for); their ids."""
        ...

    async def resume_owned(self, owner: str, now: datetime) -> int:
        """Makes the unfinished sagas `owner` leased before a restart due now."""
        ...

    async def count_by_phase(self) -> dict[Phase, int]: ...

    async def count_unfinished(self) -> int:
        """How many sagas are still running or compensating (the runnable index's rows)."""
        ...


class Prices(Protocol):
    async def get_many(self, skus: Collection[str]) -> dict[str, CatalogPrice]: ...
    async def upsert(self, price: CatalogPrice) -> None:
        """Keeps `price` unless a newer version is already known."""
        ...

    async def change_price(self, sku: str, price: Money, version: int) -> None:
        """The price of a known SKU, unless a newer version is already known."""
        ...


class History(Protocol):
    """The order history projection (see history.py): each apply is idempotent and
    order-insensitive."""

    async def apply_order(self, fact: OrderFact) -> None: ...
    async def apply_payment(self, fact: PaymentFact) -> None: ...
    async def apply_delivery(self, fact: DeliveryFact) -> None: ...
    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Entry]: ...
    async def version_of(self, order_id: str, customer_id: str | None) -> int:
        """The order version the history shows (0: none), if it is `customer_id`'s order
        (None: anyone's)."""
        ...


@dataclass(frozen=True)
class Repositories:
    orders: Orders
    sagas: Sagas
    prices: Prices
    history: History

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(
            OrderRepository(conn),
            SagaRepository(conn),
            PriceRepository(conn),
            HistoryRepository(conn),
        )


# PlaceOrder's and the saga runner's statements (an order and its saga added, then a lock
# and a save of both rows per step): compiled once and run on the driver, since SQLAlchemy's
# per-call statement building cost more CPU than the queries. An add's and a save's
# parameters are "new_<column>"; JSON columns go as JSON text.
def _adding(table: Table) -> Query:
    return Query(table.insert().values({c.name: bindparam(f"new_{c.name}") for c in table.c}))


def _locking(table: Table) -> Query:
    return Query(select(table).where(table.c.order_id == bindparam("order_id")).with_for_update())


def _saving(table: Table) -> Query:
    return Query(
        update(table)
        .where(table.c.order_id == bindparam("new_order_id"))
        .values({c.name: bindparam(f"new_{c.name}") for c in table.c if c.name != "order_id"})
    )


# PlaceOrder's admission control asks twice a second: the runnable index's predicate, so
# Postgres counts that partial index (the unfinished sagas) and not the whole table.
_UNFINISHED = Query(text("SELECT count(*) FROM sagas WHERE phase IN ('FORWARD', 'COMPENSATING')"))
# The saga runner's lease, taken many times a second under load: the same predicate.
_CLAIM = Query(
    text(
        "UPDATE sagas SET lease = :lease, owner = :owner, next_run_at = :until"
        " WHERE order_id IN (SELECT order_id FROM sagas"
        "  WHERE phase IN ('FORWARD', 'COMPENSATING') AND next_run_at <= :now"
        "  ORDER BY next_run_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
        " RETURNING order_id"
    )
)


def _saved(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values as the parameters of an add or a save: JSON columns as JSON text (psycopg
    passes Python lists and dicts as arrays and composites, not as jsonb)."""
    return {
        f"new_{name}": json.dumps(value) if isinstance(value, list | dict) else value
        for name, value in row.items()
    }


_ADD_ORDER = _adding(tables.orders)
_LOCK_ORDER = _locking(tables.orders)
_SAVE_ORDER = _saving(tables.orders)
_ADD_SAGA = _adding(tables.sagas)
_LOCK_SAGA = _locking(tables.sagas)
_SAVE_SAGA = _saving(tables.sagas)


class OrderRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, order: Order) -> None:
        await execute(self._conn, _ADD_ORDER, _saved(_order_row(order)))

    async def get(self, order_id: str) -> Order | None:
        query = select(tables.orders).where(tables.orders.c.order_id == order_id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _order(row._mapping)

    async def lock(self, order_id: str) -> Order | None:
        rows = await fetch(self._conn, _LOCK_ORDER, {"order_id": order_id})
        return _order(dict(zip(tables.orders.c.keys(), rows[0], strict=True))) if rows else None

    async def save(self, order: Order) -> None:
        await execute(self._conn, _SAVE_ORDER, _saved(_order_row(order)))

    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Order]:
        t = tables.orders
        query = select(t).order_by(t.c.created_at.desc(), t.c.order_id.desc()).limit(limit)
        if customer_id is not None:
            query = query.where(t.c.customer_id == customer_id)
        if status is not None:
            query = query.where(t.c.status == int(status))
        if after is not None:
            query = query.where(
                tuple_(t.c.created_at, t.c.order_id) < tuple_(after.created_at, after.order_id)
            )
        return [_order(row._mapping) for row in await self._conn.execute(query)]


def _order_row(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "status": int(order.status),
        "lines": records.plain(order.lines),
        "shipping_currency": order.shipping_cost.currency,
        "shipping_minor": order.shipping_cost.minor,
        "address": records.plain(order.address),
        "speed": int(order.speed),
        "rejection_reason": None if order.rejection_reason is None else int(order.rejection_reason),
        "rejection_detail": order.rejection_detail,
        "payment_id": order.payment_id,
        "reservation_id": order.reservation_id,
        "shipment_id": order.shipment_id,
        "cancel_reason": order.cancel_reason,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "version": order.version,
        "payment_undone": int(order.payment_undone),
        "refunded_minor": order.refunded_minor,
        "stock_returned": order.stock_returned,
        "shipment_cancelled": order.shipment_cancelled,
    }


def _order(m: Mapping[Any, Any]) -> Order:
    return Order(
        order_id=m["order_id"],
        customer_id=m["customer_id"],
        status=OrderStatus(m["status"]),
        lines=records.typed(tuple[OrderLine, ...], m["lines"]),
        shipping_cost=Money(m["shipping_currency"], m["shipping_minor"]),
        address=records.typed(Address, m["address"]),
        speed=ShippingSpeed(m["speed"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        version=m["version"],
        rejection_reason=None
        if m["rejection_reason"] is None
        else RejectionReason(m["rejection_reason"]),
        rejection_detail=m["rejection_detail"],
        payment_id=m["payment_id"],
        reservation_id=m["reservation_id"],
        shipment_id=m["shipment_id"],
        cancel_reason=m["cancel_reason"],
        payment_undone=PaymentStatus(m["payment_undone"]),
        refunded_minor=m["refunded_minor"],
        stock_returned=m["stock_returned"],
        shipment_cancelled=m["shipment_cancelled"],
    )


class SagaRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, saga: Saga) -> None:
        await execute(self._conn, _ADD_SAGA, _saved(_saga_row(saga)))

    async def get(self, order_id: str) -> Saga | None:
        query = select(tables.sagas).where(tables.sagas.c.order_id == order_id)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _saga(row._mapping)

    async def lock(self, order_id: str) -> Saga | None:
        rows = await fetch(self._conn, _LOCK_SAGA, {"order_id": order_id})
        return _saga(dict(zip(tables.sagas.c.keys(), rows[0], strict=True))) if rows else None

    async def save(self, saga: Saga) -> None:
        await execute(self._conn, _SAVE_SAGA, _saved(_saga_row(saga)))

    async def claim(
        self, now: datetime, *, lease: str, owner: str, until: datetime, limit: int
    ) -> list[str]:
        rows = await fetch(
            self._conn,
            _CLAIM,
            {"lease": lease, "owner": owner, "until": until, "now": now, "limit": limit},
        )
        return [order_id for (order_id,) in rows]

    async def resume_owned(self, owner: str, now: datetime) -> int:
        t = tables.sagas
        result = await self._conn.execute(
            update(t)
            .where(t.c.owner == owner, t.c.phase.in_([p.value for p in Phase if p in _OPEN]))
            .values(next_run_at=now, lease="")
        )
        return int(result.rowcount)

    async def count_unfinished(self) -> int:
        ((count,),) = await fetch(self._conn, _UNFINISHED, {})
        return int(count)

    async def count_by_phase(self) -> dict[Phase, int]:
        rows = await self._conn.execute(text("SELECT phase, count(*) FROM sagas GROUP BY phase"))
        counts = dict.fromkeys(Phase, 0)
        counts.update({Phase(phase): count for phase, count in rows})
        return counts


_OPEN = (Phase.FORWARD, Phase.COMPENSATING)


def _saga_row(saga: Saga) -> dict[str, Any]:
    return {
        "order_id": saga.order_id,
        "phase": saga.phase.value,
        "steps": records.plain(saga.steps),
        "started_at": saga.started_at,
        "next_run_at": saga.next_run_at,
        "payment_token": saga.payment_token,
        "rejection": None if saga.rejection is None else int(saga.rejection),
        "detail": saga.detail,
        "failed_step": None if saga.failed_step is None else int(saga.failed_step),
        "lease": saga.lease,
        "owner": saga.owner,
        "cancel_requested": saga.cancel_requested,
        "cancel_reason": saga.cancel_reason,
    }


def _saga(m: Mapping[Any, Any]) -> Saga:
    return Saga(
        order_id=m["order_id"],
        phase=Phase(m["phase"]),
        steps=records.typed(tuple[StepRecord, ...], m["steps"]),
        started_at=m["started_at"],
        next_run_at=m["next_run_at"],
        payment_token=m["payment_token"],
        rejection=None if m["rejection"] is None else RejectionReason(m["rejection"]),
        detail=m["detail"],
        failed_step=None if m["failed_step"] is None else StepKind(m["failed_step"]),
        lease=m["lease"],
        owner=m["owner"],
        cancel_requested=m["cancel_requested"],
        cancel_reason=m["cancel_reason"],
    )


# Every PlaceOrder prices its lines: compiled once, run on the driver.
_PRICES = Query(
    select(tables.catalog_prices).where(
        tables.catalog_prices.c.sku == any_(bindparam("skus", type_=ARRAY(Text)))
    )
)


class PriceRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get_many(self, skus: Collection[str]) -> dict[str, CatalogPrice]:
        rows = await fetch(self._conn, _PRICES, {"skus": list(skus)})
        return {
            sku: CatalogPrice(sku, name, Money(currency, minor), version)
            for sku, name, currency, minor, version in rows
        }

    async def upsert(self, price: CatalogPrice) -> None:
        t = tables.catalog_prices
        values = {
            "sku": price.sku,
            "name": price.name,
            "currency": price.price.currency,
            "minor": price.price.minor,
            "version": price.version,
        }
        statement = insert(t).values(values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[t.c.sku],
                set_={k: statement.excluded[k] for k in values if k != "sku"},
                where=t.c.version < statement.excluded.version,
            )
        )

    async def change_price(self, sku: str, price: Money, version: int) -> None:
        t = tables.catalog_prices
        await self._conn.execute(
            update(t)
            .where(t.c.sku == sku, t.c.version < version)
            .values(currency=price.currency, minor=price.minor, version=version)
        )


# --- the order history -----------------------------------------------------------------

# Every order, payment and shipping event applies one of these: compiled once, run on the
# driver. JSON values go as JSON text.
_NEW_HISTORY = (
    "INSERT INTO order_history AS h (order_id, customer_id, order_version, status,"
    " total_currency, total_minor, lines, address, speed, rejection_reason, cancel_reason,"
    " payment_id, payment_status, shipment_id, delivery_status, carrier, tracking_number,"
    " created_at, updated_at)"
)
_APPLY_ORDER = Query(
    text(
        _NEW_HISTORY + " VALUES (:order_id, :customer_id, :version, :status, :currency, :minor,"
        " CAST(:lines AS jsonb), CAST(:address AS jsonb), :speed, :rejection_reason,"
        " :cancel_reason, :payment_id, 0, :shipment_id, 0, '', '', :at, :at)"
        " ON CONFLICT (order_id) DO UPDATE SET"
        "  customer_id = COALESCE(h.customer_id, EXCLUDED.customer_id),"
        "  total_currency = COALESCE(h.total_currency, EXCLUDED.total_currency),"
        "  total_minor = COALESCE(h.total_minor, EXCLUDED.total_minor),"
        "  lines = COALESCE(h.lines, EXCLUDED.lines),"
        "  address = COALESCE(h.address, EXCLUDED.address),"
        "  speed = COALESCE(h.speed, EXCLUDED.speed),"
        "  payment_id = COALESCE(NULLIF(h.payment_id, ''), EXCLUDED.payment_id),"
        "  shipment_id = COALESCE(NULLIF(h.shipment_id, ''), EXCLUDED.shipment_id),"
        "  created_at = LEAST(h.created_at, EXCLUDED.created_at),"
        "  updated_at = GREATEST(h.updated_at, EXCLUDED.updated_at),"
        "  status = CASE WHEN EXCLUDED.order_version > h.order_version"
        "   THEN EXCLUDED.status ELSE h.status END,"
        "  rejection_reason = CASE WHEN EXCLUDED.order_version > h.order_version"
        "   THEN EXCLUDED.rejection_reason ELSE h.rejection_reason END,"
        "  cancel_reason = CASE WHEN EXCLUDED.order_version > h.order_version"
        "   THEN EXCLUDED.cancel_reason ELSE h.cancel_reason END,"
        "  order_version = GREATEST(h.order_version, EXCLUDED.order_version)"
    )
)
_APPLY_PAYMENT = Query(
    text(
        _NEW_HISTORY + " VALUES (:order_id, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, '',"
        " :payment_id, :status, '', 0, '', '', :at, :at)"
        " ON CONFLICT (order_id) DO UPDATE SET"
        "  payment_id = COALESCE(NULLIF(h.payment_id, ''), EXCLUDED.payment_id),"
        "  payment_status = GREATEST(h.payment_status, EXCLUDED.payment_status),"
        "  updated_at = GREATEST(h.updated_at, EXCLUDED.updated_at)"
    )
)
_APPLY_DELIVERY = Query(
    text(
        _NEW_HISTORY + " VALUES (:order_id, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, '',"
        " '', 0, :shipment_id, :status, :carrier, :tracking_number, :at, :at)"
        " ON CONFLICT (order_id) DO UPDATE SET"
        "  shipment_id = COALESCE(NULLIF(h.shipment_id, ''), EXCLUDED.shipment_id),"
        "  delivery_status = GREATEST(h.delivery_status, EXCLUDED.delivery_status),"
        "  carrier = COALESCE(NULLIF(EXCLUDED.carrier, ''), h.carrier),"
        "  tracking_number = COALESCE(NULLIF(EXCLUDED.tracking_number, ''), h.tracking_number),"
        "  updated_at = GREATEST(h.updated_at, EXCLUDED.updated_at)"
    )
)


class HistoryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def apply_order(self, fact: OrderFact) -> None:
        await execute(
            self._conn,
            _APPLY_ORDER,
            {
                "order_id": fact.order_id,
                "customer_id": fact.customer_id,
                "version": fact.version,
                "status": int(fact.status),
                "currency": fact.total.currency if fact.total else None,
                "minor": fact.total.minor if fact.total else None,
                "lines": None if fact.lines is None else records.dump(fact.lines).decode(),
                "address": None if fact.address is None else records.dump(fact.address).decode(),
                "speed": None if fact.speed is None else int(fact.speed),
                "rejection_reason": None
                if fact.rejection_reason is None
                else int(fact.rejection_reason),
                "cancel_reason": fact.cancel_reason,
                "payment_id": fact.payment_id,
                "shipment_id": fact.shipment_id,
                "at": fact.at,
            },
        )

    async def apply_payment(self, fact: PaymentFact) -> None:
        await execute(
            self._conn,
            _APPLY_PAYMENT,
            {
                "order_id": fact.order_id,
                "payment_id": fact.payment_id,
                "status": int(fact.status),
                "at": fact.at,
            },
        )

    async def apply_delivery(self, fact: DeliveryFact) -> None:
        await execute(
            self._conn,
            _APPLY_DELIVERY,
            {
                "order_id": fact.order_id,
                "shipment_id": fact.shipment_id,
                "status": int(fact.status),
                "carrier": fact.carrier,
                "tracking_number": fact.tracking_number,
                "at": fact.at,
            },
        )

    async def page(
        self,
        customer_id: str | None,
        *,
        status: OrderStatus | None,
        after: Position | None,
        limit: int,
    ) -> list[Entry]:
        t = tables.order_history
        query = (
            select(t)
            .where(t.c.order_version > 0, t.c.customer_id.is_not(None))
            .order_by(t.c.created_at.desc(), t.c.order_id.desc())
            .limit(limit)
        )
        if customer_id is not None:
            query = query.where(t.c.customer_id == customer_id)
        if status is not None:
            query = query.where(t.c.status == int(status))
        if after is not None:
            query = query.where(
                tuple_(t.c.created_at, t.c.order_id) < tuple_(after.created_at, after.order_id)
            )
        return [_entry(row) for row in await self._conn.execute(query)]

    async def version_of(self, order_id: str, customer_id: str | None) -> int:
        t = tables.order_history
        query = select(t.c.order_version).where(t.c.order_id == order_id)
        if customer_id is not None:
            query = query.where(t.c.customer_id == customer_id)
        found = (await self._conn.execute(query)).scalar()
        return int(found or 0)


def _entry(row: Row[Any]) -> Entry:
    m = row._mapping
    total = None
    if m["total_currency"] is not None:
        total = Money(m["total_currency"], m["total_minor"])
    return Entry(
        order_id=m["order_id"],
        customer_id=m["customer_id"],
        version=m["order_version"],
        status=OrderStatus(m["status"]),
        total=total,
        lines=() if m["lines"] is None else records.typed(tuple[OrderLine, ...], m["lines"]),
        address=None if m["address"] is None else records.typed(Address, m["address"]),
        speed=None if m["speed"] is None else ShippingSpeed(m["speed"]),
        rejection_reason=None
        if m["rejection_reason"] is None
        else RejectionReason(m["rejection_reason"]),
        cancel_reason=m["cancel_reason"],
        payment_id=m["payment_id"],
        payment_status=PaymentStatus(m["payment_status"]),
        shipment_id=m["shipment_id"],
        delivery_status=DeliveryStatus(m["delivery_status"]),
        carrier=m["carrier"],
        tracking_number=m["tracking_number"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )
