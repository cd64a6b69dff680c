"""Notifications, preferences and purchases in Postgres: rows to domain objects and back."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Row, cast, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from notifications import tables
from notifications.domain import Channel, Notification, NotificationStatus, Preferences, Topic


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
        await self._conn.execute(tables.notifications.insert().values(_row(notification)))

    async def lock(self, notification_id: str) -> Notification | None:
        query = (
            select(tables.notifications)
            .where(tables.notifications.c.notification_id == notification_id)
            .with_for_update()
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else _notification(row)

    async def lock_due(self, now: datetime, *, limit: int) -> list[Notification]:
        """PENDING notifications due by `now`, oldest due first; ones another sender has
        locked are skipped, not waited for."""
        query = (
            select(tables.notifications)
            .where(tables.notifications.c.status == NotificationStatus.PENDING.value)
            .where(tables.notifications.c.next_attempt_at <= now)
            .order_by(
                tables.notifications.c.next_attempt_at, tables.notifications.c.notification_id
            )
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_notification(row) for row in (await self._conn.execute(query)).all()]

    async def save(self, notification: Notification) -> None:
        values = _row(notification)
        del values["notification_id"]
        await self._conn.execute(
            update(tables.notifications)
            .where(tables.notifications.c.notification_id == notification.notification_id)
            .values(values)
        )

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
        query = select(tables.preferences).where(tables.preferences.c.customer_id == customer_id)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        r = row._mapping
        return Preferences(
            email_enabled=r["email_enabled"],
            sms_enabled=r["sms_enabled"],
            email=r["email"],
            phone_e164=r["phone_e164"],
            muted_topics=tuple(Topic(value) for value in r["muted_topics"]),
            version=r["version"],
            updated_at=r["updated_at"],
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
        await self._conn.execute(insert(tables.purchases).values(rows).on_conflict_do_nothing())

    async def buyers_of(self, sku: str) -> list[str]:
        query = (
            select(tables.purchases.c.customer_id)
            .where(tables.purchases.c.sku == sku)
            .order_by(tables.purchases.c.customer_id)
        )
        return list((await self._conn.execute(query)).scalars().all())


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


def _notification(row: Row[Any]) -> Notification:
    r = row._mapping
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
