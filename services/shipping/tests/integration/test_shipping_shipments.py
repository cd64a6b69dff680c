"""Shipments against a real Postgres: the use cases' state, events and idempotency, and
the locks that keep them right under concurrency (one live shipment per order, one
dispatch per shipment, one effect per OrderCancelled delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import protovalidate
import pytest
from shipping_examples import DISPATCH_DELAY, Clock, UnitsOfWork, new_id, shipment_request

from chassis.db import Database
from chassis.domain import IdempotencyKeyReused
from chassis.testing import outbox_events
from chassis.uow import SqlUnitOfWork
from shipping import dispatcher, rates, service
from shipping.domain import (
    AlreadyDispatched,
    OrderCancellation,
    OrderCancellationEffect,
    Shipment,
    ShipmentAlreadyExists,
    ShipmentRequest,
    ShipmentStatus,
)
from shipping.repository import Repositories

pytestmark = pytest.mark.anyio

RATES = rates.load()
CARRIERS = rates.Carriers(RATES, DISPATCH_DELAY)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def other_instance(clean_database: str) -> AsyncIterator[UnitsOfWork]:
    """Units of work on a second pool, as another instance of shipping has."""
    db = Database(clean_database)
    try:
        yield lambda: SqlUnitOfWork(db, Repositories.on)
    finally:
        await db.dispose()


async def create(
    uow: UnitsOfWork, clock: Clock, request: ShipmentRequest | None = None, key: str = ""
) -> Shipment:
    return await service.create_shipment(
        uow(),
        CARRIERS,
        idempotency_key=key or new_id(),
        request=request or shipment_request(),
        clock=clock,
    )


async def cancel(
    uow: UnitsOfWork, clock: Clock, shipment_id: str, key: str = "", reason: str = "r"
) -> Shipment:
    return await service.cancel_shipment(
        uow(), idempotency_key=key or new_id(), shipment_id=shipment_id, reason=reason, clock=clock
    )


async def test_a_created_shipment_is_stored_as_given_and_its_event_is_in_the_outbox(
    uow: UnitsOfWork, db: Database, clock: Clock
) -> None:
    request = shipment_request()

    created = await create(uow, clock, request)

    assert await service.get_shipment(uow(), created.shipment_id) == created
    [event] = await outbox_events(db, aggregate=f"shipments/{created.shipment_id}")
    assert event.subject == "shipping.shipment.created"
    assert event.envelope.type == "shop.shipping.v1.ShipmentCreated"
    protovalidate.validate(event.envelope)
    protovalidate.validate(event.data)


async def test_create_replay_returns_the_first_shipment_and_reuse_is_refused(
    uow: UnitsOfWork, db: Database, clock: Clock
) -> None:
    key, request = new_id(), shipment_request()
    first = await create(uow, clock, request, key)

    replay = await create(uow, clock, request, key)
    with pytest.raises(IdempotencyKeyReused):
        await create(uow, clock, shipment_request(request.order_id, country_code="FR"), key)

    assert replay == first
    assert len(await outbox_events(db)) == 1


async def test_concurrent_creates_for_one_order_make_one_shipment(
    uow: UnitsOfWork, other_instance: UnitsOfWork, db: Database, clock: Clock
) -> None:
    order_id = new_id()
    attempts = [create(u, clock, shipment_request(order_id)) for u in [uow, other_instance] * 2]

    results = await asyncio.gather(*attempts, return_exceptions=True)

    created = [r for r in results if isinstance(r, Shipment)]
    refused = [r for r in results if isinstance(r, ShipmentAlreadyExists)]
    assert (len(created), len(refused)) == (1, 3)
    assert {r.metadata["shipment_id"] for r in refused} == {created[0].shipment_id}
    assert len(await outbox_events(db)) == 1


async def test_cancel_replay_returns_the_first_outcome_and_reuse_is_refused(
    uow: UnitsOfWork, db: Database, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    key = new_id()
    first = await cancel(uow, clock, shipment.shipment_id, key, "payment declined")

    replay = await cancel(uow, clock, shipment.shipment_id, key, "payment declined")
    with pytest.raises(IdempotencyKeyReused):
        await cancel(uow, clock, shipment.shipment_id, key, "something else")

    assert replay == first
    assert first.status is ShipmentStatus.CANCELLED
    assert (await service.get_shipment(uow(), shipment.shipment_id)) == first
    subjects = [e.subject for e in await outbox_events(db)]
    assert subjects == ["shipping.shipment.created", "shipping.shipment.cancelled"]


async def test_two_dispatch_timers_at_once_dispatch_each_due_shipment_once(
    uow: UnitsOfWork, other_instance: UnitsOfWork, db: Database, clock: Clock
) -> None:
    created = [await create(uow, clock) for _ in range(6)]
    clock.advance(DISPATCH_DELAY)

    rounds = await asyncio.gather(
        *(
            service.dispatch_due_shipments(u(), clock=clock, limit=2)
            for u in [uow, other_instance] * 3
        )
    )

    dispatched = [s.shipment_id for batch in rounds for s in batch]
    assert sorted(dispatched) == sorted(s.shipment_id for s in created)
    events = [e for e in await outbox_events(db) if e.subject == "shipping.shipment.dispatched"]
    assert len(events) == 6
    for shipment in created:
        stored = await service.get_shipment(uow(), shipment.shipment_id)
        assert (stored.status, stored.version) == (ShipmentStatus.DISPATCHED, 2)


async def test_the_dispatch_timer_worker_dispatches_due_shipments_and_keeps_running(
    uow: UnitsOfWork, db: Database, clock: Clock
) -> None:
    due = await create(uow, clock)
    clock.advance(DISPATCH_DELAY)
    not_due = await create(uow, clock)

    worker = asyncio.create_task(dispatcher.dispatch_timer(uow, interval_s=0.01, clock=clock).run())
    try:
        async with asyncio.timeout(30):
            while (await service.get_shipment(uow(), due.shipment_id)).status is (
                ShipmentStatus.PENDING
            ):
                await asyncio.sleep(0.01)
        assert not worker.done()
    finally:
        worker.cancel()

    assert (await service.get_shipment(uow(), not_due.shipment_id)).status is (
        ShipmentStatus.PENDING
    )
    events = await outbox_events(db, aggregate=f"shipments/{due.shipment_id}")
    assert [e.subject for e in events] == [
        "shipping.shipment.created",
        "shipping.shipment.dispatched",
    ]


async def test_a_cancel_racing_the_dispatch_either_cancels_or_is_refused(
    uow: UnitsOfWork, other_instance: UnitsOfWork, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    clock.advance(DISPATCH_DELAY)

    cancelled, dispatched = await asyncio.gather(
        cancel(uow, clock, shipment.shipment_id),
        service.dispatch_due_shipments(other_instance(), clock=clock),
        return_exceptions=True,
    )

    stored = await service.get_shipment(uow(), shipment.shipment_id)
    if stored.status is ShipmentStatus.CANCELLED:
        assert isinstance(cancelled, Shipment)
        assert dispatched == []
    else:
        assert stored.status is ShipmentStatus.DISPATCHED
        assert isinstance(cancelled, AlreadyDispatched)
    assert stored.version == 2


async def test_an_order_cancelled_delivered_twice_at_once_has_one_effect(
    uow: UnitsOfWork, other_instance: UnitsOfWork, db: Database, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    cancellation = OrderCancellation(shipment.order_id, shipment.shipment_id, "order cancelled")
    event_key = new_id()

    outcomes = await asyncio.gather(
        *(
            service.cancel_for_cancelled_order(
                u(), event_key=event_key, cancellation=cancellation, clock=clock
            )
            for u in (uow, other_instance)
        )
    )

    assert outcomes[0] == outcomes[1]
    assert outcomes[0].effect is OrderCancellationEffect.CANCELLED
    cancelled = [e for e in await outbox_events(db) if e.subject == "shipping.shipment.cancelled"]
    assert len(cancelled) == 1
    stored = await service.get_shipment(uow(), shipment.shipment_id)
    assert (stored.status, stored.version) == (ShipmentStatus.CANCELLED, 2)


async def test_an_order_cancelled_without_shipment_id_cancels_the_orders_live_shipment(
    uow: UnitsOfWork, clock: Clock
) -> None:
    old = await create(uow, clock)
    await cancel(uow, clock, old.shipment_id)
    live = await create(uow, clock, shipment_request(old.order_id))
    clock.advance(timedelta(seconds=1))

    outcome = await service.cancel_for_cancelled_order(
        uow(), event_key=new_id(), cancellation=OrderCancellation(old.order_id, "", ""), clock=clock
    )

    assert outcome.effect is OrderCancellationEffect.CANCELLED
    assert outcome.shipment is not None
    assert outcome.shipment.shipment_id == live.shipment_id
