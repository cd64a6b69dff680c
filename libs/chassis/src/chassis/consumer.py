"""Consuming events: durable JetStream pull consumers whose handlers take effect once per
event, and a dead-letter stream for what cannot be handled.

    Subscription("payments-order-cancelled", [OrderCancelled],
                 lambda event, delivery: service.refund(uow(), delivery.key, ...))

- Each subscription is a durable consumer (its name) on the stream of the events' context,
  filtered to their subjects (from the contract's (event) option), with explicit acks.
- The inbox is the unit of work's idempotency record: a handler claims `delivery.key`
  (derived from the subscription and the event id) in the transaction of its effect, so a
  redelivery (a lost ack, a relay's republish, a redrive) finds the claim and does nothing.
- A message that cannot be decoded, breaks the envelope's rules, or is not one of the
  subscribed types goes to the dead-letter stream at once; a handler that keeps failing
  goes there after MAX_ATTEMPTS deliveries; each with the reason. A dependency outage
  (chassis.faults) is retried with backoff without counting, so an outage dead-letters
  nothing. The consumer keeps going either way. `shop dlq` lists and redrives.
- The handler runs with the event's correlation id and trace context, so what it logs,
  calls and emits belongs to the same operation.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import protovalidate
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import Counter

from chassis import broker, context, faults, telemetry
from chassis.broker import Backoff
from chassis.outbox import event_route
from shop.common.v1.event_pb2 import EventEnvelope

log = logging.getLogger("chassis.consumer")

DEAD_LETTER_STREAM = "DEADLETTER"
DEAD_LETTER_PREFIX = "deadletter"  # deadletter.<service>.<subscription>
MAX_ATTEMPTS = 5  # deliveries of a failing handler before its event is dead-lettered
RETRY_BASE_S = 0.2  # a failing handler's event comes back after this, doubling
OUTAGE_RETRY_S = (0.5, 30.0)  # during an outage: first delay, cap (doubling)
ACK_WAIT_S = 30.0  # a handler slower than this gets its event again (the inbox makes it harmless)
FETCH_BATCH = 16
FETCH_WAIT_S = 1.0  # a fetch's long poll: how long an empty fetch waits for a message
# Deliveries keyed per subscription and event: one event, one effect per consumer.
INBOX_NAMESPACE = uuid.UUID("1f4c2b7e-6a0d-4d8e-9c3a-5e2f7b9d0a14")

HANDLED = Counter(
    "events_consumed",
    "Deliveries of events, by outcome (handled, retried, dead_lettered).",
    ("service", "instance", "subscription", "outcome"),
)

_tracer = trace.get_tracer("chassis")


@dataclass(frozen=True)
class Delivery:
    """What a handler knows about the event besides its data."""

    envelope: EventEnvelope
    subscription: str
    attempt: int  # 1 on the first delivery
    stream: str  # where the message is kept, e.g. "ORDERS"
    stream_sequence: int  # its position there

    @property
    def key(self) -> str:
        """The idempotency key of this event for this subscription: claim it in the unit
        of work of the effect, and a redelivery has no second effect."""
        return str(uuid.uuid5(INBOX_NAMESPACE, f"{self.subscription}/{self.envelope.id}"))


E = TypeVar("E", bound=Message)


@dataclass(frozen=True)
class Subscription(Generic[E]):
    name: str
    """The durable consumer's name, unique across the stack: "<service>-<what it does>"."""
    events: Sequence[type[E]]
    """The event types it handles, all of one context (one stream)."""
    handle: Callable[[E, Delivery], Awaitable[object]]

    @property
    def subjects(self) -> list[str]:
        return [event_route(e.DESCRIPTOR).subject for e in self.events]  # type: ignore[arg-type]

    @property
    def stream(self) -> str:
        """The stream of the events' context ("ORDERS" for orders.*)."""
        contexts = {subject.split(".")[0] for subject in self.subjects}
        if len(contexts) != 1:
            raise ValueError(f"{self.name}: events of one context per subscription, not {contexts}")
        return contexts.pop().upper()


class DeadLetter(Exception):
    """The event cannot be handled, however often it is tried."""


def decode(subscription: Subscription[E], data: bytes) -> tuple[E, EventEnvelope]:
    """A message's event and envelope as `subscription` receives them: a valid envelope, one
    of its event types, valid data; DeadLetter otherwise. (Contract tests feed the pacts'
    messages through it, so a consumer's pact is checked by the decoder its consumer runs.)"""
    types = {e.DESCRIPTOR.full_name: e for e in subscription.events}
    try:
        envelope = EventEnvelope.FromString(data)
    except DecodeError as error:
        raise DeadLetter(f"not an EventEnvelope: {error}") from error
    violations = protovalidate.collect_violations(envelope)
    if violations:
        raise DeadLetter(f"invalid envelope: {violations[0].proto.message}")
    kind = types.get(envelope.type)
    if kind is None:
        raise DeadLetter(f"{envelope.type} is not an event {subscription.name} handles")
    event = kind()
    if not envelope.data.Unpack(event):
        raise DeadLetter(f"data is not a {envelope.type}")
    violations = protovalidate.collect_violations(event)
    if violations:
        raise DeadLetter(f"invalid {envelope.type}: {violations[0].proto.message}")
    return event, envelope


class EventConsumer:
    """Runs one subscription until cancelled (a chassis worker)."""

    def __init__(
        self, subscription: Subscription[Any], nats_url: str, labels: tuple[str, str]
    ) -> None:
        self._subscription = subscription
        self._nats_url = nats_url
        self._service = labels[0]
        self._outcomes = {
            outcome: HANDLED.labels(*labels, subscription.name, outcome)
            for outcome in ("handled", "retried", "dead_lettered")
        }

    async def run(self) -> None:
        """Consumes until cancelled; a NATS outage is waited out, a bug ends it (and the
        worker is restarted)."""
        backoff = Backoff()
        while True:
            client = await broker.connect(self._nats_url, f"consumer {self._subscription.name}")
            try:
                await self._consume(client.jetstream())
            except broker.FAILURES as error:
                delay = backoff.next()
                log.warning(
                    "%s: NATS failed (%r); again in %.2f s", self._subscription.name, error, delay
                )
                await asyncio.sleep(delay)
            finally:
                await client.close()

    async def _consume(self, js: JetStreamContext) -> None:
        subscription = self._subscription
        await js.add_consumer(
            subscription.stream,
            ConsumerConfig(
                durable_name=subscription.name,
                name=subscription.name,
                filter_subjects=subscription.subjects,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=ACK_WAIT_S,
                deliver_policy=DeliverPolicy.ALL,
                max_deliver=-1,  # the consumer decides when to give up (see module docstring)
            ),
        )
        pull = await js.pull_subscribe_bind(durable=subscription.name, stream=subscription.stream)
        log.info("consuming %s as %s", ", ".join(subscription.subjects), subscription.name)
        while True:
            try:
                messages = await pull.fetch(FETCH_BATCH, timeout=FETCH_WAIT_S)
            except TimeoutError:
                # Nothing to fetch. nats-py says so with nats.errors.TimeoutError, or with
                # a bare asyncio.TimeoutError when the wait ran out between its no-wait
                # probe and the long poll: both are the builtin TimeoutError, and neither
                # is a failure of the connection (reconnecting would lose the long poll).
                continue
            for message in messages:
                await self._deliver(js, message)

    async def _deliver(self, js: JetStreamContext, message: Msg) -> None:
        attempt = message.metadata.num_delivered
        try:
            event, envelope = self._decode(message)
        except DeadLetter as poison:
            await self._dead_letter(js, message, str(poison))
            return
        metadata = message.metadata
        delivery = Delivery(
            envelope, self._subscription.name, attempt, metadata.stream, metadata.sequence.stream
        )
        try:
            await self._handle(event, delivery, message)
        except Exception as error:
            fault = faults.classify(error)
            if fault is not None:  # an outage: retry without counting towards the DLQ
                first, cap = OUTAGE_RETRY_S
                delay = min(cap, first * 2 ** min(attempt, 10))
                log.warning(
                    "%s: %s (%r); retrying in %.1f s", envelope.type, fault.code.name, error, delay
                )
                self._outcomes["retried"].inc()
                await message.nak(delay=delay)
            elif attempt >= MAX_ATTEMPTS:
                log.exception(
                    "%s %s failed %d times; dead-lettered", envelope.type, envelope.id, attempt
                )
                await self._dead_letter(js, message, f"handler failed: {error!r}")
            else:
                log.exception(
                    "%s %s failed (attempt %d); retrying", envelope.type, envelope.id, attempt
                )
                self._outcomes["retried"].inc()
                await message.nak(delay=RETRY_BASE_S * 2**attempt)
            return
        await message.ack()
        self._outcomes["handled"].inc()

    def _decode(self, message: Msg) -> tuple[Message, EventEnvelope]:
        return decode(self._subscription, message.data)

    async def _handle(self, event: Message, delivery: Delivery, message: Msg) -> None:
        """The handler, in the event's operation: its correlation id and trace (a recorded
        consumer span only when spans are exported; see chassis.telemetry)."""
        envelope = delivery.envelope
        context.correlation_id.set(envelope.correlation_id)
        if not telemetry.exporting():
            token = telemetry.enter_unrecorded_span(envelope.traceparent, envelope.tracestate)
            try:
                await self._subscription.handle(event, delivery)
            finally:
                otel_context.detach(token)
            return
        carrier = {"traceparent": envelope.traceparent, "tracestate": envelope.tracestate}
        with _tracer.start_as_current_span(
            f"consume {envelope.type}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination": message.subject},
        ) as recorded:
            context.trace_id.set(f"{recorded.get_span_context().trace_id:032x}")
            await self._subscription.handle(event, delivery)

    async def _dead_letter(self, js: JetStreamContext, message: Msg, reason: str) -> None:
        """Parks the message, with why, on deadletter.<service>.<subscription>; then acks it
        so the consumer moves on."""
        metadata = message.metadata
        origin = f"{metadata.stream}-{metadata.sequence.stream}"
        headers = {
            **(message.headers or {}),
            "Nats-Msg-Id": f"{origin}-{self._subscription.name}",
            "Shop-Dead-Letter-Reason": reason[:1000],
            "Shop-Original-Subject": message.subject,
            "Shop-Original-Stream": metadata.stream,
            "Shop-Original-Sequence": str(metadata.sequence.stream),
            "Shop-Subscription": self._subscription.name,
            "Shop-Deliveries": str(metadata.num_delivered),
        }
        subject = f"{DEAD_LETTER_PREFIX}.{self._service}.{self._subscription.name}"
        await js.publish(subject, message.data, headers=headers)
        await message.ack()
        self._outcomes["dead_lettered"].inc()
        log.error("dead-lettered %s #%d: %s", metadata.stream, metadata.sequence.stream, reason)
