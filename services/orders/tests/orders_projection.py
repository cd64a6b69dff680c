"""Feeds the order history from orders' own outbox, as the `orders-order-history`
subscription does on a stack (for tests that run without NATS)."""

from __future__ import annotations

from datetime import UTC

from chassis.app import Runtime
from chassis.testing import outbox_events
from orders import events, service
from orders.repository import Repositories


async def project_outbox(runtime: Runtime) -> int:
    """Applies every order event in the outbox (again: each is claimed once); how many."""
    uow = runtime.units_of_work(Repositories.on)
    found = [e for e in await outbox_events(runtime.db) if isinstance(e.data, events.ORDER_EVENTS)]
    for event in found:
        at = event.envelope.time.ToDatetime(tzinfo=UTC)
        fact = events.order_fact(event.data, at)  # type: ignore[arg-type]
        await service.on_order_event(uow, event_key=event.envelope.id, fact=fact)
    return len(found)
