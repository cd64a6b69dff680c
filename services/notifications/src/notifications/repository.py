"""Notifications, preferences and purchases in Postgres: rows to domain objects and back."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, cast, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import Query, execute, execute_many, fetch
from notifications import tables
from notifications.domain import Channel, Notification, NotificationStatus, Preferences, Topic

_NOTIFICATION_COLUMNS = tables.notifications.c.keys()
# Every event recorded and every notification sent runs these (the service's hot path):
# compiled once, run on the driver.
_ADD_NOTIFICATION = Query(
    tables.notifications.insert().values(
        {c.name: bindparam(c.name) for c in tables.notifications.c}
    )
)
_LOCK_NOTIFICATION = Query(
    select(tables.notifications)
    .where(tables.notifications.c.notification_id == bindparam("notification_id"))
    .with_for_update()
)
_LOCK_DUE = Query(
    select(tables.notifications)
    .where(tables.notifications.c.status == bindparam("status"))
    .where(tables.notifications.c.next_attempt_at <= bindparam("now"))
    .order_by(tables.notifications.c.next_attempt_at, tables.notifications.c.notification_id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_SAVE_NOTIFICATION = Query(
    update(tables.notifications)
    .where(tables.notifications.c.notification_id == bindparam("notification_id"))
    .values(
        {c.name: bindparam(c.name) for c in tables.notifications.c if c.name != "notification_id"}
    )
)
_GET_PREFERENCES = Query(
    select(tables.preferences).where(tables.preferences.c.customer_id == bindparam("customer_id"))
)
_RECORD_PURCHASE = Query(
    insert(tables.purchases)
    .values(sku=bindparam("sku"), customer_id=bindparam("customer_id"))
    .on_conflict_do_nothing()
)
_BUYERS_OF = Query(
    select(tables.purchases.c.customer_id)
    .where(tables.purchases.c.sku == bindparam("sku"))
    .order_by(tables.purchases.c.customer_id)
)


@dataclass(frozen=True)
class Position:
    """Where a page of a customer's notifications (newest first) continues: after this one."""

    created_at: datetime
    notification_id: str


class Notifications(Protocol):
    async def add(self, notification: Notification) -> None: ...
    async def lock(self, notification_id: str) -> Notification | None: ...
    async def lock_due(self, now: datetime, *, limit: int) -> list[Notification]: ...
    async def save(self, notification: Notification) -> None: ...
    async def page(
        self, customer_id: str, *, channel: Channel | None, after: Position | None, limit: int
    ) -> list[Notification]: ...


class CustomerPreferences(Protocol):
    async def lock(self, customer_id: str) -> None: ...
    async def get(self, customer_id: str) -> Preferences | None: ...
    async def save(self, customer_id: str, preferences: Preferences) -> None: ...


class Purchases(Protocol):
    async def record(self, customer_id: str, skus: Collection[str]) -> None: ...
    async def buyers_of(self, sku: str) -> list[str]: ...


@dataclass(frozen=True)
class Repositories:
    """What a notifications unit of work gives its use case."""

    notifications: Notifications
    preferences: CustomerPreferences
    purchases: Purchases

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(
            NotificationRepository(conn), PreferencesRepository(conn), PurchaseRepository(conn)
        )


class NotificationRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, notification: Notification) -> None:
        await execute(self._conn, _ADD_NOTIFICATION, _row(notification))

    async def lock(self, notification_id: str) -> Notification | None:
        rows = await fetch(self._conn, _LOCK_NOTIFICATION, {"notification_id": notification_id})
        return _notification(rows[0]) if rows else None

    async def lock_due(self, now: datetime, *, limit: int) -> list[Notification]:
        """PENDING notifications due by `now`, oldest due first; ones another sender has
        locked are skipped, not waited for."""
        rows = await fetch(
            self._conn,
            _LOCK_DUE,
            {"status": NotificationStatus.PENDING.value, "now": now, "limit": limit},
        )
        return [_notification(row) for row in rows]

    async def save(self, notification: Notification) -> None:
        await execute(self._conn, _SAVE_NOTIFICATION, _row(notification))

    async def page(
        self, customer_id: str, *, channel: Channel | None, after: Position | None, limit: int
    ) -> list[Notification]:
        """The customer's notifications, newest first (keyset pagination)."""
        key = tuple_(tables.notifications.c.created_at, tables.notifications.c.notification_id)
        query = (
            select(tables.notifications)
            .where(tables.notifications.c.customer_id == customer_id)
            .order_by(
                tables.notifications.c.created_at.desc(),
                tables.notifications.c.notification_id.desc(),
            )
            .limit(limit)
        )
        if channel is not None:
            query = query.where(tables.notifications.c.channel == channel.value)
        if after is not None:
            after_id = cast(after.notification_id, tables.notifications.c.notification_id.type)
            query = query.where(key < tuple_(after.created_at, after_id))
        return [_notification(row) for row in (await self._conn.execute(query)).all()]


class PreferencesRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock(self, customer_id: str) -> None:
        """Serializes writers of one customer's preferences until the transaction ends; an
        advisory lock, since a customer's first preferences have no row to lock yet."""
        await self._conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"preferences/{customer_id}"},
        )

    async def get(self, customer_id: str) -> Preferences | None:
        rows = await fetch(self._conn, _GET_PREFERENCES, {"customer_id": customer_id})
        if not rows:
            return None
        _, email_enabled, sms_enabled, email, phone, muted_topics, version, updated_at = rows[0]
        return Preferences(
            email_enabled=email_enabled,
            sms_enabled=sms_enabled,
            email=email,
            phone_e164=phone,
            muted_topics=tuple(Topic(value) for value in muted_topics),
            version=version,
            updated_at=updated_at,
        )

    async def save(self, customer_id: str, preferences: Preferences) -> None:
        values = {
            "customer_id": customer_id,
            "email_enabled": preferences.email_enabled,
            "sms_enabled": preferences.sms_enabled,
            "email": preferences.email,
            "phone_e164": preferences.phone_e164,
            "muted_topics": [topic.value for topic in preferences.muted_topics],
            "version": preferences.version,
            "updated_at": preferences.updated_at,
        }
        statement = insert(tables.preferences).values(values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[tables.preferences.c.customer_id],
                set_={name: statement.excluded[name] for name in values if name != "customer_id"},
            )
        )


class PurchaseRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def record(self, customer_id: str, skus: Collection[str]) -> None:
        if not skus:
            return
        rows = [{"sku": sku, "customer_id": customer_id} for sku in skus]
        await execute_many(self._conn, _RECORD_PURCHASE, rows)

    async def buyers_of(self, sku: str) -> list[str]:
        return [customer_id for (customer_id,) in await fetch(self._conn, _BUYERS_OF, {"sku": sku})]


def _row(notification: Notification) -> dict[str, Any]:
    return {
        "notification_id": notification.notification_id,
        "customer_id": notification.customer_id,
        "channel": notification.channel.value,
        "topic": notification.topic.value,
        "recipient": notification.recipient,
        "subject": notification.subject,
        "body": notification.body,
        "status": notification.status.value,
        "cause_event_id": notification.cause_event_id,
        "order_id": notification.order_id,
        "created_at": notification.created_at,
        "sent_at": notification.sent_at,
        "attempts": notification.attempts,
        "next_attempt_at": notification.next_attempt_at,
        "failure": notification.failure,
    }


def _notification(row: Sequence[Any]) -> Notification:
    """A notification from a row of select(notifications), SQLAlchemy's or the driver's (which
    reads UUIDs as uuid.UUID)."""
    r = dict(zip(_NOTIFICATION_COLUMNS, row, strict=True))
    return Notification(
        notification_id=str(r["notification_id"]),
        customer_id=r["customer_id"],
        channel=Channel(r["channel"]),
        topic=Topic(r["topic"]),
        recipient=r["recipient"],
        subject=r["subject"],
        body=r["body"],
        status=NotificationStatus(r["status"]),
        cause_event_id=str(r["cause_event_id"]),
        order_id=r["order_id"],
        created_at=r["created_at"],
        sent_at=r["sent_at"],
        attempts=r["attempts"],
        next_attempt_at=r["next_attempt_at"],
        failure=r["failure"],
    )
