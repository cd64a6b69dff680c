"""Example events in their envelopes, and what recording them takes, shared by audit's
unit and integration tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from audit import messages
from audit.domain import ReceivedEvent
from audit.repository import Repositories
from chassis.outbox import envelop
from chassis.uow import SqlUnitOfWork
from shop.catalog.v1 import events_pb2 as catalog_events
from shop.common.v1 import money_pb2
from shop.common.v1.event_pb2 import EventEnvelope
from shop.inventory.v1 import events_pb2 as inventory_events

UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def price_changed(sku: str = "KIT-KNIFE-1", amount: int = 500) -> catalog_events.PriceChanged:
    return catalog_events.PriceChanged(
        sku=sku,
        old_price=money_pb2.Money(currency_code="EUR", amount_minor=1),
        new_price=money_pb2.Money(currency_code="EUR", amount_minor=amount),
        version=2,
    )


def stock_low(sku: str = "KIT-KNIFE-1", available: int = 2) -> inventory_events.StockLow:
    return inventory_events.StockLow(sku=sku, available=available, threshold=3, version=4)


def price_envelope(
    sku: str = "KIT-KNIFE-1",
    amount: int = 500,
    *,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> EventEnvelope:
    """A PriceChanged about products/<sku> in the envelope the outbox would write; `at`
    sets its event time."""
    envelope = envelop(price_changed(sku, amount), sku).envelope
    if at is not None:
        envelope.time.FromDatetime(at)
    if correlation_id is not None:
        envelope.correlation_id = correlation_id
    return envelope


def stock_envelope(sku: str = "KIT-KNIFE-1", *, at: datetime | None = None) -> EventEnvelope:
    envelope = envelop(stock_low(sku), sku).envelope
    if at is not None:
        envelope.time.FromDatetime(at)
    return envelope


def received(envelope: EventEnvelope, stream_sequence: int = 0) -> ReceivedEvent:
    stream = envelope.type.split(".")[1].upper()
    return messages.received(envelope, stream=stream, stream_sequence=stream_sequence)


def at_minute(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now
