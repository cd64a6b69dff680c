"""Notifications' domain: a customer's preferences, and a notification's life from the fact
that caused it to the provider accepting (or refusing) it. Pure: no I/O, no proto, no SQL.

A notification is decided in the transaction that consumes its causing event: PENDING when
the customer's channel is on and the topic not muted, else SUPPRESSED_BY_PREFERENCES. It is
delivered outside that transaction, and its outcome (SENT, FAILED, or PENDING again later)
is decided here too.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from chassis.domain import DomainError

# A notification's id is derived from what it is (cause, customer, channel), so a replayed
# event can only ever name the same notification, and its Message-ID stays the same.
NOTIFICATION_NAMESPACE = uuid.UUID("6b1d3c0e-8f2a-4e57-9a61-2c4d8e0f1b73")


class Channel(enum.Enum):
    EMAIL = "email"
    SMS = "sms"


class Topic(enum.Enum):
    ORDER_UPDATES = "order_updates"
    PAYMENT_UPDATES = "payment_updates"
    SHIPPING_UPDATES = "shipping_updates"
    STOCK_ALERTS = "stock_alerts"
    MARKETING = "marketing"


class NotificationStatus(enum.Enum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED_BY_PREFERENCES = "suppressed_by_preferences"


class ChannelNotAvailable(DomainError):
    """The customer enabled a channel this deployment has no provider for."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(
            f"{channel.value} notifications are not available in this deployment",
            field=f"preferences.{channel.value}_enabled",
            metadata={"channel": channel.name},
        )


# --- preferences ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreferenceChoice:
    """What a customer asks for in SetPreferences (the output-only fields left out)."""

    email_enabled: bool
    sms_enabled: bool
    email: str
    phone_e164: str
    muted_topics: tuple[Topic, ...]


@dataclass(frozen=True)
class Preferences:
    """A customer's preferences. The defaults (version 0) send nothing: notifications knows
    no contact details until the customer gives them, and marketing is opt-in."""

    email_enabled: bool = False
    sms_enabled: bool = False
    email: str = ""
    phone_e164: str = ""
    muted_topics: tuple[Topic, ...] = (Topic.MARKETING,)
    version: int = 0
    updated_at: datetime | None = None

    def allows(self, channel: Channel, topic: Topic) -> bool:
        enabled = self.email_enabled if channel is Channel.EMAIL else self.sms_enabled
        return enabled and topic not in self.muted_topics

    def address(self, channel: Channel) -> str:
        return self.email if channel is Channel.EMAIL else self.phone_e164


DEFAULT_PREFERENCES = Preferences()


def change_preferences(
    current: Preferences,
    choice: PreferenceChoice,
    *,
    available: frozenset[Channel],
    now: datetime,
) -> Preferences:
    """The preferences from now on, one version later. A channel without a provider in this
    deployment cannot be enabled (it could never deliver)."""
    wanted = {Channel.EMAIL: choice.email_enabled, Channel.SMS: choice.sms_enabled}
    for channel, enabled in wanted.items():
        if enabled and channel not in available:
            raise ChannelNotAvailable(channel)
    return Preferences(
        email_enabled=choice.email_enabled,
        sms_enabled=choice.sms_enabled,
        email=choice.email,
        phone_e164=choice.phone_e164,
        # Sorted, so the same choice is the same value whatever order it came in.
        muted_topics=tuple(sorted(set(choice.muted_topics), key=lambda t: t.value)),
        version=current.version + 1,
        updated_at=now,
    )


# --- what happened ----------------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """A consumed event, as what a customer would be told about it."""

    event_id: str  # the CloudEvents id of the event
    template: str  # the message's template, one per event type ("order_placed")
    topic: Topic
    values: Mapping[str, str]  # what the template fills in
    customer_id: str = ""  # whom it is addressed to; empty: the buyers of `about_sku`
    order_id: str = ""  # the order it is about, if any
    about_sku: str = ""  # a stock alert's product
    purchased_skus: tuple[str, ...] = ()  # an order's products, remembered per customer
    """Who bought what is how a stock alert finds its audience: the events about stock
    carry no customer."""


@dataclass(frozen=True)
class RenderedMessage:
    subject: str  # empty for SMS
    body: str  # plain text


# --- notifications ----------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    notification_id: str
    customer_id: str
    channel: Channel
    topic: Topic
    recipient: str  # the address when it was recorded; later changes do not redirect it
    subject: str
    body: str
    status: NotificationStatus
    cause_event_id: str
    order_id: str
    created_at: datetime
    sent_at: datetime | None = None
    attempts: int = 0  # deliveries the provider refused so far
    next_attempt_at: datetime | None = None  # when delivery is (next) due; PENDING only
    failure: str = ""  # why it FAILED, for support


def notification_id(cause_event_id: str, customer_id: str, channel: Channel) -> str:
    return str(
        uuid.uuid5(NOTIFICATION_NAMESPACE, f"{cause_event_id}/{customer_id}/{channel.value}")
    )


@dataclass(frozen=True)
class Recipient:
    customer_id: str
    preferences: Preferences


def decide(
    cause: Cause, message: RenderedMessage, recipient: Recipient, channel: Channel, *, now: datetime
) -> Notification:
    """The notification `cause` makes for one customer on one channel: due at once when the
    customer wants it there, otherwise recorded as suppressed (so "why did I not get an
    email?" has an answer)."""
    customer_id, preferences = recipient.customer_id, recipient.preferences
    wanted = preferences.allows(channel, cause.topic)
    return Notification(
        notification_id=notification_id(cause.event_id, customer_id, channel),
        customer_id=customer_id,
        channel=channel,
        topic=cause.topic,
        recipient=preferences.address(channel),
        subject=message.subject,
        body=message.body,
        status=NotificationStatus.PENDING
        if wanted
        else NotificationStatus.SUPPRESSED_BY_PREFERENCES,
        cause_event_id=cause.event_id,
        order_id=cause.order_id,
        created_at=now,
        next_attempt_at=now if wanted else None,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How delivery retries a message the provider refused for now (4xx)."""

    max_attempts: int = 5
    base_delay: timedelta = field(default=timedelta(seconds=2))

    def delay(self, attempts: int) -> timedelta:
        return self.base_delay * (1 << (attempts - 1))  # doubling


class NotPending(Exception):
    """A delivery outcome for a notification that is no longer PENDING (a bug)."""


def _pending(notification: Notification) -> None:
    if notification.status is not NotificationStatus.PENDING:
        raise NotPending(f"{notification.notification_id} is {notification.status.name}")


def leased(notification: Notification, *, until: datetime) -> Notification:
    """Taken by one sender until `until`: nobody else tries it meanwhile, and if that sender
    dies, it is due again then."""
    _pending(notification)
    return replace(notification, next_attempt_at=until)


def sent(notification: Notification, *, now: datetime) -> Notification:
    _pending(notification)
    return replace(notification, status=NotificationStatus.SENT, sent_at=now, next_attempt_at=None)


@dataclass(frozen=True)
class Refusal:
    """What the provider said when it refused a message."""

    reason: str
    permanent: bool  # it will refuse it again (an SMTP 5xx)


def refused(
    notification: Notification, refusal: Refusal, *, policy: RetryPolicy, now: datetime
) -> Notification:
    """The provider refused it: a permanent refusal (5xx, e.g. no such recipient) or one
    attempt too many fails it for good; a temporary one is tried again later."""
    _pending(notification)
    attempts = notification.attempts + 1
    if refusal.permanent or attempts >= policy.max_attempts:
        return replace(
            notification,
            status=NotificationStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None,
            failure=refusal.reason,
        )
    return replace(notification, attempts=attempts, next_attempt_at=now + policy.delay(attempts))


def postponed(notification: Notification, *, until: datetime) -> Notification:
    """The provider could not be reached: not the message's fault, so no attempt counts;
    it is due again `until` (an outage delays mail, it never fails it)."""
    _pending(notification)
    return replace(notification, next_attempt_at=until)
