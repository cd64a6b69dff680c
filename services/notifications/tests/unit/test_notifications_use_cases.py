"""The use cases on the in-memory unit of work: what consuming an event records for whom,
once per delivery; preferences set once per key; delivery's outcomes (sent, retried, failed,
postponed) and the NotificationSent event; listing newest first, page by page."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from notifications_examples import (
    ADA,
    ADA_EMAIL,
    EMAIL_ON,
    Clock,
    event_id,
    order_placed,
    shipment_dispatched,
    stock_low,
)
from notifications_fakes import FakeMailer, in_memory_uow, notifications_of, preferences_of

from chassis.domain import IdempotencyKeyReused
from chassis.testing import InMemoryUnitOfWork
from notifications import events, service
from notifications.domain import Channel, Notification, NotificationStatus, Topic
from notifications.repository import Repositories
from notifications.sender import Sender
from notifications.service import PreferencesChange
from notifications.settings import NotificationsSettings
from shop.notifications.v1.events_pb2 import NotificationSent

pytestmark = pytest.mark.anyio

EMAIL = (Channel.EMAIL,)
EMAIL_ONLY = frozenset(EMAIL)
KEY = "7d4c2b7e-6a0d-4d8e-9c3a-5e2f7b9d0a14"


async def opt_in(uow: InMemoryUnitOfWork[Repositories], customer_id: str = ADA) -> None:
    await service.set_preferences(
        uow,
        idempotency_key=event_id(),
        change=PreferencesChange(customer_id, EMAIL_ON),
        available=EMAIL_ONLY,
    )


async def consume(
    uow: InMemoryUnitOfWork[Repositories],
    event: object,
    *,
    key: str = "",
    cause_id: str = "",
    clock: Clock | None = None,
) -> service.Recorded:
    cause = events.cause_of(event, cause_id or event_id())  # type: ignore[arg-type]
    return await service.record_notifications(
        uow, delivery_key=key or event_id(), cause=cause, channels=EMAIL, clock=clock or Clock()
    )


def only(uow: InMemoryUnitOfWork[Repositories]) -> Notification:
    [notification] = notifications_of(uow).saved.values()
    return notification


# --- consuming ------------------------------------------------------------------------


async def test_an_event_for_a_customer_who_opted_in_records_a_pending_email() -> None:
    uow = in_memory_uow()
    await opt_in(uow)

    recorded = await consume(uow, shipment_dispatched())

    notification = only(uow)
    assert recorded == service.Recorded(notifications=1, pending=1)
    assert notification.status is NotificationStatus.PENDING
    assert (notification.channel, notification.recipient) == (Channel.EMAIL, ADA_EMAIL)
    assert "DHL" in notification.body


async def test_a_customer_who_never_set_preferences_gets_a_suppressed_record_and_no_email() -> None:
    uow = in_memory_uow()

    await consume(uow, shipment_dispatched())

    assert only(uow).status is NotificationStatus.SUPPRESSED_BY_PREFERENCES
    assert only(uow).next_attempt_at is None


async def test_a_customer_who_opted_out_of_email_or_muted_the_topic_gets_none() -> None:
    uow = in_memory_uow()
    await opt_in(uow)
    muted = dataclasses.replace(EMAIL_ON, muted_topics=(Topic.SHIPPING_UPDATES,))
    await service.set_preferences(
        uow, idempotency_key=event_id(), change=PreferencesChange(ADA, muted), available=EMAIL_ONLY
    )

    await consume(uow, shipment_dispatched())

    assert only(uow).status is NotificationStatus.SUPPRESSED_BY_PREFERENCES


async def test_a_duplicate_delivery_records_nothing_more() -> None:
    uow = in_memory_uow()
    await opt_in(uow)
    cause_id = event_id()

    first = await consume(uow, shipment_dispatched(), key=KEY, cause_id=cause_id)
    again = await consume(uow, shipment_dispatched(), key=KEY, cause_id=cause_id)

    assert again == first
    assert len(notifications_of(uow).saved) == 1


async def test_a_stock_alert_goes_to_each_customer_who_ordered_the_product() -> None:
    uow = in_memory_uow()
    for customer in ("ada", "bob"):
        await opt_in(uow, customer)
        await consume(uow, order_placed(customer_id=customer, order_id=str(event_id())))

    recorded = await consume(uow, stock_low())

    alerts = [n for n in notifications_of(uow).saved.values() if n.topic is Topic.STOCK_ALERTS]
    assert recorded == service.Recorded(notifications=2, pending=2)
    assert sorted(n.customer_id for n in alerts) == ["ada", "bob"]
    assert {n.order_id for n in alerts} == {""}


# --- preferences ----------------------------------------------------------------------


async def test_set_preferences_once_per_key_and_the_same_key_for_another_request_is_refused() -> (
    None
):
    uow = in_memory_uow()
    change = PreferencesChange(ADA, EMAIL_ON)

    first = await service.set_preferences(
        uow, idempotency_key=KEY, change=change, available=EMAIL_ONLY
    )
    retry = await service.set_preferences(
        uow, idempotency_key=KEY, change=change, available=EMAIL_ONLY
    )
    with pytest.raises(IdempotencyKeyReused):
        await service.set_preferences(
            uow,
            idempotency_key=KEY,
            change=PreferencesChange("bob", EMAIL_ON),
            available=EMAIL_ONLY,
        )

    assert retry == first
    assert preferences_of(uow).saved[ADA].version == 1
    assert await service.get_preferences(uow, ADA) == first


# --- delivering -----------------------------------------------------------------------

SETTINGS = NotificationsSettings(
    smtp_url="smtp://127.0.0.1:1", max_attempts=3, retry_base_s=10, outage_retry_s=5
)


async def pending_one(clock: Clock) -> tuple[InMemoryUnitOfWork[Repositories], FakeMailer, Sender]:
    uow = in_memory_uow()
    await opt_in(uow)
    await consume(uow, shipment_dispatched(), clock=clock)
    mailer = FakeMailer()
    return uow, mailer, Sender(lambda: uow, mailer, SETTINGS, clock=clock)


async def test_an_accepted_email_is_sent_once_and_announced_by_notification_sent() -> None:
    clock = Clock()
    uow, mailer, sender = await pending_one(clock)

    await sender.deliver_once()
    await sender.deliver_once()

    notification = only(uow)
    [email] = mailer.sent
    [announced] = uow.committed
    assert notification.status is NotificationStatus.SENT
    assert notification.sent_at == clock.now
    assert email["To"] == ADA_EMAIL
    assert email["Message-ID"] == f"<{notification.notification_id}@notifications.shop.local>"
    assert isinstance(announced.event, NotificationSent)
    assert announced.event.notification_id == notification.notification_id
    assert announced.aggregate == f"notifications/{notification.notification_id}"


async def test_a_temporary_refusal_is_retried_later_and_fails_after_bounded_attempts() -> None:
    clock = Clock()
    uow, mailer, sender = await pending_one(clock)
    mailer.refuse_next(452, times=SETTINGS.max_attempts)  # 452: mailbox full, try later

    await sender.deliver_once()
    after_first = only(uow)
    await sender.deliver_once()  # not due yet: nothing happens
    for _ in range(SETTINGS.max_attempts - 1):
        clock.advance(3600)
        await sender.deliver_once()

    assert after_first.status is NotificationStatus.PENDING
    assert after_first.next_attempt_at == Clock().now + timedelta(seconds=10)
    assert only(uow).status is NotificationStatus.FAILED
    assert only(uow).attempts == SETTINGS.max_attempts
    assert mailer.sent == []
    assert uow.committed == []  # nothing announced


async def test_a_permanent_refusal_fails_at_once() -> None:
    uow, mailer, sender = await pending_one(Clock())
    mailer.refuse_next(550)

    await sender.deliver_once()

    assert only(uow).status is NotificationStatus.FAILED
    assert "550" in only(uow).failure


async def test_an_unreachable_server_postpones_without_counting_and_sends_once_it_is_back() -> None:
    clock = Clock()
    uow, mailer, sender = await pending_one(clock)
    mailer.be_unreachable(times=SETTINGS.max_attempts + 2)  # longer than the bound

    for _ in range(SETTINGS.max_attempts + 2):
        await sender.deliver_once()
        assert only(uow).status is NotificationStatus.PENDING
        clock.advance(SETTINGS.outage_retry_s)
    await sender.deliver_once()

    assert only(uow).status is NotificationStatus.SENT
    assert only(uow).attempts == 0
    assert len(mailer.sent) == 1


async def test_a_leased_notification_is_not_taken_again_until_its_lease_ends() -> None:
    clock = Clock()
    uow, _, _ = await pending_one(clock)
    lease = timedelta(seconds=SETTINGS.lease_s)

    first = await service.lease_due(uow, lease=lease, limit=10, clock=clock)
    meanwhile = await service.lease_due(uow, lease=lease, limit=10, clock=clock)
    clock.advance(SETTINGS.lease_s)
    after_the_lease = await service.lease_due(uow, lease=lease, limit=10, clock=clock)

    assert len(first) == 1
    assert meanwhile == []
    assert [n.notification_id for n in after_the_lease] == [first[0].notification_id]


# --- listing --------------------------------------------------------------------------


async def test_listing_is_newest_first_page_by_page() -> None:
    uow = in_memory_uow()
    clock = Clock()
    for _ in range(5):
        await consume(uow, shipment_dispatched(), clock=clock)
        clock.advance(1)
    await consume(uow, shipment_dispatched(customer_id="bob"), clock=clock)

    seen = []
    token = ""
    while True:
        page = await service.list_notifications(
            uow, customer_id=ADA, channel=None, page_size=2, page_token=token
        )
        seen += page.notifications
        token = page.next_page_token
        if not token:
            break

    times = [n.created_at for n in seen]
    assert len(seen) == 5
    assert times == sorted(times, reverse=True)
    assert {n.customer_id for n in seen} == {ADA}
