"""Notifications' use cases: one function each, one unit of work each. Nothing about gRPC,
NATS or SMTP: they take and return domain values.

Consuming an event and delivering its message are separate units of work on purpose. The
first claims the event's delivery key and records the notification as PENDING (or
SUPPRESSED) in one transaction, so a redelivered event finds the claim and records nothing.
Delivery then leases due notifications, talks SMTP outside any transaction, and records the
outcome; only a crash between the server accepting a message and that record can send it a
second time (after the lease), with the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chassis.uow import UnitOfWork, retry_conflicts
from notifications import domain, events, page_tokens, templates
from notifications.domain import (
    DEFAULT_PREFERENCES,
    Cause,
    Channel,
    Notification,
    PreferenceChoice,
    Preferences,
    Recipient,
    Refusal,
    RetryPolicy,
)
from notifications.repository import Position, Repositories

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Page:
    notifications: list[Notification]
    next_page_token: str  # empty on the last page


@dataclass(frozen=True)
class PreferencesChange:
    """A SetPreferences request: whose, and what (the idempotency record's request)."""

    customer_id: str
    choice: PreferenceChoice


@dataclass(frozen=True)
class Recorded:
    """What consuming one event recorded: how many notifications, how many of them due."""

    notifications: int
    pending: int


# --- preferences ----------------------------------------------------------------------


async def get_preferences(uow: UnitOfWork[Repositories], customer_id: str) -> Preferences:
    async with uow.read():
        found = await uow.repos.preferences.get(customer_id)
    return found or DEFAULT_PREFERENCES


@retry_conflicts
async def set_preferences(
    uow: UnitOfWork[Repositories],
    *,
    idempotency_key: str,
    change: PreferencesChange,
    available: frozenset[Channel],
    clock: Clock = utc_now,
) -> Preferences:
    """Replaces the customer's preferences, once per idempotency key."""
    customer_id = change.customer_id
    async with uow:
        earlier = await uow.claim(idempotency_key, change, Preferences)
        if earlier is not None:
            return earlier
        await uow.repos.preferences.lock(customer_id)
        current = await uow.repos.preferences.get(customer_id) or DEFAULT_PREFERENCES
        updated = domain.change_preferences(
            current, change.choice, available=available, now=clock()
        )
        await uow.repos.preferences.save(customer_id, updated)
        await uow.commit(updated)
    return updated


# --- what customers were told ---------------------------------------------------------


async def list_notifications(
    uow: UnitOfWork[Repositories],
    *,
    customer_id: str,
    channel: Channel | None,
    page_size: int,
    page_token: str,
) -> Page:
    """The customer's notifications, newest first, whatever their status."""
    filter_name = channel.value if channel else ""
    after = page_tokens.decode(page_token, channel=filter_name)
    size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    async with uow.read():
        found = await uow.repos.notifications.page(
            customer_id, channel=channel, after=after, limit=size + 1
        )
    page = found[:size]
    next_token = ""
    if len(found) > size:
        last = page[-1]
        position = Position(last.created_at, last.notification_id)
        next_token = page_tokens.encode(position, channel=filter_name)
    return Page(page, next_token)


# --- consuming events -----------------------------------------------------------------


@retry_conflicts
async def record_notifications(
    uow: UnitOfWork[Repositories],
    *,
    delivery_key: str,
    cause: Cause,
    channels: Sequence[Channel],
    clock: Clock = utc_now,
) -> Recorded:
    """Records what `cause` makes each of its customers receive on each channel, once per
    delivery key (the consumer's key of the event): a redelivery records nothing more."""
    async with uow:
        earlier = await uow.claim(delivery_key, cause.event_id, Recorded)
        if earlier is not None:
            return earlier
        repos = uow.repos
        now = clock()
        if cause.purchased_skus:
            await repos.purchases.record(cause.customer_id, cause.purchased_skus)
        if cause.customer_id:
            audience = [cause.customer_id]
        else:
            audience = await repos.purchases.buyers_of(cause.about_sku)
        message = templates.render(cause.template, cause.values)
        recorded = []
        for customer_id in audience:
            preferences = await repos.preferences.get(customer_id) or DEFAULT_PREFERENCES
            recipient = Recipient(customer_id, preferences)
            for channel in channels:
                notification = domain.decide(cause, message, recipient, channel, now=now)
                await repos.notifications.add(notification)
                recorded.append(notification)
        pending = sum(n.status is domain.NotificationStatus.PENDING for n in recorded)
        result = Recorded(len(recorded), pending)
        await uow.commit(result)
    return result


# --- delivering them ------------------------------------------------------------------


@retry_conflicts
async def lease_due(
    uow: UnitOfWork[Repositories], *, lease: timedelta, limit: int, clock: Clock = utc_now
) -> list[Notification]:
    """Takes up to `limit` due notifications for delivery, each for `lease`: another
    sender skips them meanwhile, and takes them if this one dies holding them."""
    async with uow:
        now = clock()
        due = await uow.repos.notifications.lock_due(now, limit=limit)
        taken = [domain.leased(n, until=now + lease) for n in due]
        for notification in taken:
            await uow.repos.notifications.save(notification)
        await uow.commit()
    return taken


@retry_conflicts
async def record_sent(
    uow: UnitOfWork[Repositories], notification_id: str, *, clock: Clock = utc_now
) -> Notification | None:
    """The provider accepted it: SENT, and NotificationSent goes out with the commit. None
    when it was no longer pending (another sender took over an expired lease and was
    faster); then nothing changes."""
    async with uow:
        notification = await _pending(uow, notification_id)
        if notification is None:
            return None
        done = domain.sent(notification, now=clock())
        await uow.repos.notifications.save(done)
        uow.emit(events.notification_sent(done), done.notification_id)
        await uow.commit()
    return done


@retry_conflicts
async def record_refused(
    uow: UnitOfWork[Repositories],
    notification_id: str,
    refusal: Refusal,
    *,
    policy: RetryPolicy,
    clock: Clock = utc_now,
) -> Notification | None:
    """The provider refused it: FAILED for good, or PENDING again later (RetryPolicy)."""
    async with uow:
        notification = await _pending(uow, notification_id)
        if notification is None:
            return None
        after = domain.refused(notification, refusal, policy=policy, now=clock())
        await uow.repos.notifications.save(after)
        await uow.commit()
    return after


@retry_conflicts
async def postpone(
    uow: UnitOfWork[Repositories], notification_ids: Sequence[str], *, until: datetime
) -> None:
    """The provider could not be reached: these are due again `until`, no attempt counted."""
    async with uow:
        for notification_id in notification_ids:
            notification = await _pending(uow, notification_id)
            if notification is not None:
                later = domain.postponed(notification, until=until)
                await uow.repos.notifications.save(later)
        await uow.commit()


async def _pending(uow: UnitOfWork[Repositories], notification_id: str) -> Notification | None:
    notification = await uow.repos.notifications.lock(notification_id)
    if notification is None or notification.status is not domain.NotificationStatus.PENDING:
        return None
    return notification
