"""What audit consumes: every event of every context, found in the contracts, and how a
delivery becomes a record. It publishes nothing.

The event types come from the generated contracts (every message of each
shop/<context>/v1/events.proto that declares the (event) option), so an event added to a
contract is audited once the contracts are regenerated, without a change here."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from google.protobuf.message import Message

import shop
from audit import messages, service
from audit.repository import Repositories
from chassis.consumer import Delivery, Subscription
from chassis.outbox import event_route
from chassis.uow import UnitOfWork
from shop.common.v1 import event_pb2

CONTRACT_VERSION = "v1"


def audited_events() -> dict[str, list[type[Message]]]:
    """Every event type of the contracts, by the context that publishes it (its stream):
    {"catalog": [ProductUpserted, PriceChanged], ...}."""
    by_context: dict[str, list[type[Message]]] = {}
    for context in sorted(m.name for m in pkgutil.iter_modules(shop.__path__) if m.ispkg):
        try:
            module = importlib.import_module(f"shop.{context}.{CONTRACT_VERSION}.events_pb2")
        except ModuleNotFoundError:
            continue  # a context that publishes nothing (audit itself)
        for name, descriptor in module.DESCRIPTOR.message_types_by_name.items():
            if descriptor.GetOptions().HasExtension(event_pb2.event):
                kind: type[Message] = getattr(module, name)
                stream = event_route(descriptor).subject.split(".")[0]
                by_context.setdefault(stream, []).append(kind)
    return by_context


class EventRecorder:
    """Records each delivered event in the log (the consumers' handler)."""

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork[Repositories]],
        *,
        clock: service.Clock = service.utc_now,
    ) -> None:
        self._uow = unit_of_work
        self._clock = clock

    def subscriptions(self) -> list[Subscription[Message]]:
        """One durable consumer per context: a subscription's events share one stream."""
        return [
            Subscription(f"audit-{context}", events, self.record)
            for context, events in audited_events().items()
        ]

    async def record(self, event: Message, delivery: Delivery) -> None:
        """Stores the whole envelope, not just `event`: the record is the event as it was
        received, where it was in its stream."""
        received = messages.received(
            delivery.envelope, stream=delivery.stream, stream_sequence=delivery.stream_sequence
        )
        await service.record_event(self._uow(), received, clock=self._clock)
