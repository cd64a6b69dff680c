"""The whole path on real infrastructure: events on a real NATS JetStream, the instance
in-process (its consumers, its sender, its outbox relay) on Postgres, email over SMTP to a
real server (aiosmtpd). One email per event, none for a duplicate delivery, none for a
customer who opted out, a malformed event dead-lettered while the next one is delivered,
and mail held back while the SMTP server is down goes out once it is back."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import TYPE_CHECKING

import pytest
from google.protobuf.message import Message
from nats.js import JetStreamContext
from notifications_examples import (
    ADA,
    ADA_EMAIL,
    order_cancellation_completed,
    order_placed,
    shipment_dispatched,
    stock_low,
)
from notifications_smtp import SmtpServer

from chassis import consumer
from chassis.app import Runtime, ServiceApp
from chassis.consumer import DEAD_LETTER_STREAM
from chassis.db import Database
from chassis.outbox import envelop, event_route
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import NatsServer, instance_settings, jetstream
from notifications.mailer import Mailer, MailerUnavailable, SmtpMailer
from notifications.mailer import SmtpServer as SmtpAddress
from notifications.main import wire
from notifications.settings import NotificationsSettings
from shop.notifications.v1 import notification_pb2 as npb
from shop.notifications.v1 import notifications_service_pb2 as pb
from shop.notifications.v1 import preferences_pb2
from shop.notifications.v1.events_pb2 import NotificationSent
from shop.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceStub
from shop.orders.v1 import order_pb2

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.notifications.v1.notifications_service_pb2_grpc import (
        NotificationsServiceAsyncStub,
    )

pytestmark = pytest.mark.anyio

WAIT_S = 30.0
CONTEXTS = ("orders", "payments", "shipping", "inventory", "notifications")
BOB = "bob"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer, "RETRY_BASE_S", 0.01)
    monkeypatch.setattr(consumer, "OUTAGE_RETRY_S", (0.01, 0.05))


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    async with jetstream(nats_server, *CONTEXTS) as stream:
        yield stream


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class CountingMailer:
    """The real SMTP mailer, counting the sends that found the server unreachable."""

    def __init__(self, inner: Mailer) -> None:
        self._inner = inner
        self.unreachable = 0

    async def send(self, message: EmailMessage) -> None:
        try:
            await self._inner.send(message)
        except MailerUnavailable:
            self.unreachable += 1
            raise


Started = Callable[[SmtpServer], Awaitable[tuple["NotificationsServiceAsyncStub", CountingMailer]]]


@pytest.fixture
async def instance(
    service_app: ServiceApp, db: Database, clean_database: str, nats_server: NatsServer
) -> AsyncIterator[Started]:
    """Starts the instance (once a test has its SMTP server) with quick delivery retries."""
    running = contextlib.AsyncExitStack()

    async def start(smtp: SmtpServer) -> tuple[NotificationsServiceAsyncStub, CountingMailer]:
        settings = NotificationsSettings(
            smtp_url=smtp.url, poll_interval_s=0.05, outage_retry_s=0.1, smtp_timeout_s=5
        )
        mailer = CountingMailer(SmtpMailer(SmtpAddress.parse(smtp.url), timeout_s=5))
        app = dataclasses.replace(
            service_app, wire=functools.partial(wire, settings=settings, mailer=mailer)
        )
        runtime = Runtime(instance_settings(app.name, clean_database, nats_url=nats_server.url), db)
        channel = await running.enter_async_context(serving(app, runtime))
        return NotificationsServiceStub(channel), mailer

    async with running:
        yield start


async def opt_in(api: NotificationsServiceAsyncStub, customer: str, email: str) -> None:
    preferences = preferences_pb2.Preferences(email_enabled=True, email=email)
    await api.SetPreferences(
        pb.SetPreferencesRequest(idempotency_key=str(uuid.uuid4()), preferences=preferences),
        metadata=(("x-shop-subject", customer),),
    )


async def publish(js: JetStreamContext, event: Message, *, times: int = 1) -> str:
    """Publishes the event in its envelope, `times` times as a relay that republished it
    after the broker's duplicate window would (the same envelope, a new message id)."""
    envelope = envelop(event, str(uuid.uuid4())).envelope
    subject = event_route(event.DESCRIPTOR).subject  # type: ignore[arg-type]
    for attempt in range(times):
        await js.publish(
            subject,
            envelope.SerializeToString(),
            headers={"Nats-Msg-Id": f"{envelope.id}-{attempt}"},
        )
    return envelope.id


async def until(condition: Callable[[], bool | Awaitable[bool]], what: str) -> None:
    for _ in range(int(WAIT_S / 0.05)):
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {WAIT_S} s: {what}")


async def listed(api: NotificationsServiceAsyncStub, customer: str) -> list[npb.Notification]:
    reply = await api.ListNotifications(
        pb.ListNotificationsRequest(), metadata=(("x-shop-subject", customer),)
    )
    return list(reply.notifications)


async def test_one_email_per_event_and_none_for_a_duplicate_delivery(
    instance: Started, smtp: SmtpServer, js: JetStreamContext, db: Database
) -> None:
    api, _ = await instance(smtp)
    await opt_in(api, ADA, ADA_EMAIL)

    duplicated = await publish(js, shipment_dispatched(), times=3)
    await publish(js, order_placed())
    # The duplicates come before the second event in the stream, so once that one's
    # notification is SENT, every duplicate has been handled (and sent, had it recorded one).
    await until(lambda: all_sent(api, ADA, 2), "both notifications SENT")

    assert sorted(mail.subject for mail in smtp.received) == [
        "We received your order 1C1013D0",
        "Your order 1C1013D0 is on its way",
    ]
    assert {mail.rcpt_to for mail in smtp.received} == {(ADA_EMAIL,)}
    sent = [e.data for e in await outbox_events(db) if isinstance(e.data, NotificationSent)]
    assert len(sent) == 2
    assert duplicated in {event.cause_event_id for event in sent}
    assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 0


async def test_a_cancellation_completed_is_mailed_only_when_no_other_mail_told_it(
    instance: Started, smtp: SmtpServer, js: JetStreamContext
) -> None:
    """A confirmed order's cancellation (its payment REFUNDED) was told by OrderCancelled
    and PaymentRefunded: nothing more. One cancelled while placing (VOIDED) is mailed."""
    api, _ = await instance(smtp)
    await opt_in(api, ADA, ADA_EMAIL)

    await publish(js, order_cancellation_completed(order_pb2.PAYMENT_STATUS_REFUNDED))
    await publish(js, order_cancellation_completed(order_pb2.PAYMENT_STATUS_VOIDED))
    await until(lambda: all_sent(api, ADA, 1), "the voided one's notification SENT")

    assert [mail.subject for mail in smtp.received] == ["Your order 1C1013D0 is cancelled"]
    assert "Nothing was charged" in smtp.received[0].message.get_content()
    assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 0


async def all_sent(api: NotificationsServiceAsyncStub, customer: str, count: int) -> bool:
    found = await listed(api, customer)
    return len(found) == count and all(n.status == npb.NOTIFICATION_STATUS_SENT for n in found)


async def test_a_customer_who_opted_out_gets_no_email_and_can_see_why(
    instance: Started, smtp: SmtpServer, js: JetStreamContext
) -> None:
    api, _ = await instance(smtp)
    await opt_in(api, ADA, ADA_EMAIL)  # bob never opted in: email is off by default

    await publish(js, shipment_dispatched(customer_id=BOB))
    await publish(js, shipment_dispatched(customer_id=ADA))
    await until(lambda: len(smtp.to(ADA_EMAIL)) == 1, "Ada's email, after Bob's event")

    [bobs] = await listed(api, BOB)
    assert [mail.rcpt_to for mail in smtp.received] == [(ADA_EMAIL,)]
    assert bobs.status == npb.NOTIFICATION_STATUS_SUPPRESSED_BY_PREFERENCES
    assert "DHL" in bobs.body


async def test_a_malformed_event_is_dead_lettered_and_the_next_one_is_delivered(
    instance: Started, smtp: SmtpServer, js: JetStreamContext
) -> None:
    api, _ = await instance(smtp)
    await opt_in(api, ADA, ADA_EMAIL)
    no_customer = shipment_dispatched()
    no_customer.customer_id = ""  # breaks the contract's rules

    await js.publish("shipping.shipment.dispatched", b"\xff\x00 not protobuf")
    await publish(js, no_customer)
    await publish(js, shipment_dispatched())
    await until(lambda: len(smtp.received) == 1, "the good event's email")

    info = await js.stream_info(DEAD_LETTER_STREAM)
    letters = [await js.get_msg(DEAD_LETTER_STREAM, seq) for seq in (1, 2)]
    assert info.state.messages == 2
    assert {m.subject for m in letters} == {"deadletter.notifications.notifications-shipping"}
    reasons = [(m.headers or {})["Shop-Dead-Letter-Reason"] for m in letters]
    assert reasons[0].startswith("not an EventEnvelope")
    assert reasons[1].startswith("invalid shop.shipping.v1.ShipmentDispatched")


async def test_mail_held_back_while_smtp_is_down_is_sent_once_it_is_back(
    instance: Started, js: JetStreamContext
) -> None:
    smtp = SmtpServer()  # not started: the server is down
    try:
        api, mailer = await instance(smtp)
        await opt_in(api, ADA, ADA_EMAIL)

        await publish(js, shipment_dispatched())
        await until(lambda: mailer.unreachable >= 3, "delivery tried while SMTP is down")
        [waiting] = await listed(api, ADA)
        smtp.start()
        await until(lambda: len(smtp.received) == 1, "the email once SMTP is back")
        await until(lambda: all_sent(api, ADA, 1), "the notification SENT")

        assert waiting.status == npb.NOTIFICATION_STATUS_PENDING
        assert len(smtp.received) == 1
    finally:
        smtp.stop()


async def test_a_stock_alert_reaches_the_customers_who_ordered_the_product(
    instance: Started, smtp: SmtpServer, js: JetStreamContext
) -> None:
    api, _ = await instance(smtp)
    await opt_in(api, ADA, ADA_EMAIL)
    await opt_in(api, BOB, "bob@example.com")

    await publish(js, order_placed(customer_id=ADA))
    await until(lambda: len(smtp.received) == 1, "Ada's order email")
    await publish(js, stock_low())
    await until(lambda: len(smtp.received) == 2, "the stock alert")

    alert = smtp.received[-1]
    assert alert.rcpt_to == (ADA_EMAIL,)  # Bob never ordered it
    assert alert.subject == "Only 2 left of BK-BIRDS-EUROPE"
