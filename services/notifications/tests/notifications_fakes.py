"""In-memory repositories and mailer for the use-case tests (chassis.testing.InMemoryUnitOfWork)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from email.message import EmailMessage

from chassis.testing import InMemoryUnitOfWork
from notifications.domain import Channel, Notification, NotificationStatus, Preferences
from notifications.mailer import MailerUnavailable, MailRefused
from notifications.repository import Position, Repositories


class InMemoryNotifications:
    def __init__(self) -> None:
        self.saved: dict[str, Notification] = {}

    async def add(self, notification: Notification) -> None:
        assert notification.notification_id not in self.saved, "recorded twice"
        self.saved[notification.notification_id] = notification

    async def lock(self, notification_id: str) -> Notification | None:
        return self.saved.get(notification_id)

    async def lock_due(self, now: datetime, *, limit: int) -> list[Notification]:
        due = [
            n
            for n in self.saved.values()
            if n.status is NotificationStatus.PENDING
            and n.next_attempt_at is not None
            and n.next_attempt_at <= now
        ]
        due.sort(key=lambda n: (n.next_attempt_at or now, n.notification_id))
        return due[:limit]

    async def save(self, notification: Notification) -> None:
        self.saved[notification.notification_id] = notification

    async def page(
        self, customer_id: str, *, channel: Channel | None, after: Position | None, limit: int
    ) -> list[Notification]:
        found = sorted(
            (
                n
                for n in self.saved.values()
                if n.customer_id == customer_id and channel in (None, n.channel)
            ),
            key=lambda n: (n.created_at, n.notification_id),
            reverse=True,
        )
        if after is not None:
            found = [
                n
                for n in found
                if (n.created_at, n.notification_id) < (after.created_at, after.notification_id)
            ]
        return found[:limit]


class InMemoryPreferences:
    def __init__(self) -> None:
        self.saved: dict[str, Preferences] = {}

    async def lock(self, customer_id: str) -> None:
        pass  # one task at a time in memory

    async def get(self, customer_id: str) -> Preferences | None:
        return self.saved.get(customer_id)

    async def save(self, customer_id: str, preferences: Preferences) -> None:
        self.saved[customer_id] = preferences


class InMemoryPurchases:
    def __init__(self) -> None:
        self.saved: set[tuple[str, str]] = set()

    async def record(self, customer_id: str, skus: Collection[str]) -> None:
        self.saved |= {(sku, customer_id) for sku in skus}

    async def buyers_of(self, sku: str) -> list[str]:
        return sorted(customer for bought, customer in self.saved if bought == sku)


class FakeMailer:
    """Accepts every message unless told to fail the next sends."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures: list[Exception] = []

    async def send(self, message: EmailMessage) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    def refuse_next(self, code: int, times: int = 1) -> None:
        self.failures += [MailRefused(code, "try later" if code < 500 else "no such user")] * times

    def be_unreachable(self, times: int = 1) -> None:
        self.failures += [MailerUnavailable("connection refused")] * times


def in_memory_uow() -> InMemoryUnitOfWork[Repositories]:
    return InMemoryUnitOfWork(
        Repositories(InMemoryNotifications(), InMemoryPreferences(), InMemoryPurchases())
    )


def notifications_of(uow: InMemoryUnitOfWork[Repositories]) -> InMemoryNotifications:
    found = uow.repos.notifications
    assert isinstance(found, InMemoryNotifications)
    return found


def preferences_of(uow: InMemoryUnitOfWork[Repositories]) -> InMemoryPreferences:
    found = uow.repos.preferences
    assert isinstance(found, InMemoryPreferences)
    return found
