"""Shipping's use cases in memory (chassis.testing.InMemoryUnitOfWork, fake shipments, a
fake catalog port): what they decide, commit and emit, without a database."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from shipping_examples import DISPATCH_DELAY, Clock, address, new_id, shipment_request
from shipping_fakes import FakeWeights, InMemoryShipments

from chassis.domain import IdempotencyKeyReused
from chassis.errors import PeerError
from chassis.testing import InMemoryUnitOfWork
from shipping import rates, service
from shipping.domain import (
    AlreadyDispatched,
    DestinationNotServed,
    Money,
    OrderCancellation,
    OrderCancellationEffect,
    OrderCancellationOutcome,
    ParcelLine,
    ServiceLevel,
    Shipment,
    ShipmentAlreadyExists,
    ShipmentNotFound,
    ShipmentRequest,
    ShipmentStatus,
    UnknownSku,
)
from shipping.repository import Repositories
from shop.shipping.v1 import events_pb2

pytestmark = pytest.mark.anyio

RATES = rates.load()
CARRIERS = rates.Carriers(RATES, DISPATCH_DELAY)
Uow = InMemoryUnitOfWork[Repositories]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def shipments() -> InMemoryShipments:
    return InMemoryShipments()


@pytest.fixture
def uow(shipments: InMemoryShipments) -> Uow:
    return InMemoryUnitOfWork(Repositories(shipments))


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def create(
    uow: Uow, clock: Clock, request: ShipmentRequest | None = None, key: str = ""
) -> Shipment:
    return await service.create_shipment(
        uow,
        CARRIERS,
        idempotency_key=key or new_id(),
        request=request or shipment_request(),
        clock=clock,
    )


async def cancel(
    uow: Uow, clock: Clock, shipment_id: str, key: str = "", reason: str = ""
) -> Shipment:
    return await service.cancel_shipment(
        uow, idempotency_key=key or new_id(), shipment_id=shipment_id, reason=reason, clock=clock
    )


def emitted(uow: Uow) -> list[tuple[str, type[object]]]:
    return [(e.aggregate, type(e.event)) for e in uow.committed]


# --- quotes ---------------------------------------------------------------------------------
async def test_a_quote_prices_the_parcels_weight_from_the_catalog() -> None:
    weights = FakeWeights({"KIT-KNIFE-1": 400, "TEA-SENCHA": 250})
    lines = [ParcelLine("KIT-KNIFE-1", 3), ParcelLine("TEA-SENCHA", 2)]  # 1700 g

    options = await service.quote_shipping(
        RATES, weights, destination=address("DE"), lines=lines, currency="EUR"
    )

    assert sorted(weights.asked) == ["KIT-KNIFE-1", "TEA-SENCHA"]
    assert options == RATES.quote("DE", 1700, "EUR")
    assert [o.service_level for o in options] == [ServiceLevel.STANDARD, ServiceLevel.EXPRESS]
    assert options[0].price == Money("EUR", 549)  # the packaged table's 2 kg domestic band


async def test_a_sku_the_catalog_does_not_know_refuses_the_quote() -> None:
    weights = FakeWeights({"KIT-KNIFE-1": 400})

    with pytest.raises(UnknownSku) as raised:
        await service.quote_shipping(
            RATES,
            weights,
            destination=address("DE"),
            lines=[ParcelLine("KIT-KNIFE-1", 1), ParcelLine("NO-SUCH-SKU", 1)],
            currency="EUR",
        )

    assert raised.value.metadata == {"sku": "NO-SUCH-SKU"}


async def test_an_unavailable_catalog_fails_the_quote_as_transient() -> None:
    down = PeerError(grpc.StatusCode.UNAVAILABLE, "no healthy upstream")
    weights = FakeWeights({}, failure=down)

    with pytest.raises(PeerError) as raised:
        await service.quote_shipping(
            RATES,
            weights,
            destination=address("DE"),
            lines=[ParcelLine("KIT-KNIFE-1", 1)],
            currency="EUR",
        )

    assert raised.value.transient


async def test_a_destination_nobody_serves_is_refused_before_the_catalog_is_asked() -> None:
    weights = FakeWeights({"KIT-KNIFE-1": 400})

    with pytest.raises(DestinationNotServed):
        await service.quote_shipping(
            RATES,
            weights,
            destination=address("BR"),
            lines=[ParcelLine("KIT-KNIFE-1", 1)],
            currency="EUR",
        )

    assert weights.asked == []


# --- CreateShipment -------------------------------------------------------------------------
async def test_creating_a_shipment_stores_it_and_emits_shipment_created(
    uow: Uow, shipments: InMemoryShipments, clock: Clock
) -> None:
    request = shipment_request(level=ServiceLevel.EXPRESS)

    shipment = await create(uow, clock, request)

    assert shipments.saved == {shipment.shipment_id: shipment}
    assert shipment.status is ShipmentStatus.PENDING
    assert shipment.carrier == "UPS"  # the packaged table's express carrier
    assert shipment.dispatch_due_at == clock.now + DISPATCH_DELAY
    assert emitted(uow) == [(f"shipments/{shipment.shipment_id}", events_pb2.ShipmentCreated)]
    event = uow.committed[0].event
    assert isinstance(event, events_pb2.ShipmentCreated)
    assert (event.order_id, event.customer_id, event.version) == (
        request.order_id,
        request.customer_id,
        1,
    )
    assert [(line.sku, line.quantity) for line in event.lines] == [
        (line.sku, line.quantity) for line in request.lines
    ]


async def test_a_replayed_create_returns_the_same_shipment_and_emits_nothing_more(
    uow: Uow, shipments: InMemoryShipments, clock: Clock
) -> None:
    key, request = new_id(), shipment_request()
    first = await create(uow, clock, request, key)
    clock.advance(timedelta(seconds=5))

    replay = await create(uow, clock, request, key)

    assert replay == first
    assert len(shipments.saved) == 1
    assert len(uow.committed) == 1


async def test_a_create_key_reused_for_another_request_is_refused(uow: Uow, clock: Clock) -> None:
    key = new_id()
    await create(uow, clock, shipment_request(), key)

    with pytest.raises(IdempotencyKeyReused):
        await create(uow, clock, shipment_request(), key)


async def test_a_second_shipment_for_an_order_is_refused_until_the_first_is_cancelled(
    uow: Uow, clock: Clock
) -> None:
    order_id = new_id()
    first = await create(uow, clock, shipment_request(order_id))

    with pytest.raises(ShipmentAlreadyExists) as raised:
        await create(uow, clock, shipment_request(order_id))
    assert raised.value.metadata["shipment_id"] == first.shipment_id

    await cancel(uow, clock, first.shipment_id)
    second = await create(uow, clock, shipment_request(order_id))
    assert second.shipment_id != first.shipment_id


async def test_a_service_level_that_does_not_reach_the_address_is_refused(
    uow: Uow, shipments: InMemoryShipments, clock: Clock
) -> None:
    # The packaged table carries EXPRESS nowhere in Oceania.
    request = shipment_request(country_code="AU", level=ServiceLevel.EXPRESS)

    with pytest.raises(DestinationNotServed) as raised:
        await create(uow, clock, request)

    assert raised.value.metadata == {"country_code": "AU", "service_level": "EXPRESS"}
    assert shipments.saved == {}
    assert uow.commits == 0


# --- CancelShipment -------------------------------------------------------------------------
async def test_cancelling_emits_shipment_cancelled_with_the_reason(uow: Uow, clock: Clock) -> None:
    shipment = await create(uow, clock)

    cancelled = await cancel(uow, clock, shipment.shipment_id, reason="payment declined")

    assert cancelled.status is ShipmentStatus.CANCELLED
    assert emitted(uow)[-1] == (f"shipments/{shipment.shipment_id}", events_pb2.ShipmentCancelled)
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.ShipmentCancelled)
    assert (event.reason, event.version) == ("payment declined", 2)


async def test_a_replayed_cancel_returns_the_same_shipment_and_a_reused_key_is_refused(
    uow: Uow, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    key = new_id()
    first = await cancel(uow, clock, shipment.shipment_id, key, "first")

    replay = await cancel(uow, clock, shipment.shipment_id, key, "first")
    with pytest.raises(IdempotencyKeyReused):
        await cancel(uow, clock, shipment.shipment_id, key, "another reason")

    assert replay == first
    assert len(uow.committed) == 2  # created, cancelled once


async def test_cancelling_a_cancelled_shipment_returns_it_without_an_event(
    uow: Uow, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    first = await cancel(uow, clock, shipment.shipment_id)

    again = await cancel(uow, clock, shipment.shipment_id)

    assert again == first
    assert len(uow.committed) == 2


async def test_a_dispatched_shipment_cannot_be_cancelled(uow: Uow, clock: Clock) -> None:
    shipment = await create(uow, clock)
    clock.advance(DISPATCH_DELAY)
    await service.dispatch_due_shipments(uow, clock=clock)

    with pytest.raises(AlreadyDispatched):
        await cancel(uow, clock, shipment.shipment_id)


async def test_an_unknown_shipment_is_not_found(uow: Uow, clock: Clock) -> None:
    missing = new_id()
    with pytest.raises(ShipmentNotFound) as raised:
        await cancel(uow, clock, missing)
    assert raised.value.metadata == {"shipment_id": missing}
    with pytest.raises(ShipmentNotFound):
        await service.get_shipment(uow, missing)


# --- the dispatch timer ---------------------------------------------------------------------
async def test_a_dispatch_round_hands_over_only_the_due_shipments(uow: Uow, clock: Clock) -> None:
    early = await create(uow, clock)
    clock.advance(timedelta(minutes=5))
    late = await create(uow, clock)
    clock.advance(DISPATCH_DELAY - timedelta(minutes=5))  # early is due, late is not

    dispatched = await service.dispatch_due_shipments(uow, clock=clock)

    assert [s.shipment_id for s in dispatched] == [early.shipment_id]
    assert (await service.get_shipment(uow, early.shipment_id)).status is (
        ShipmentStatus.DISPATCHED
    )
    assert (await service.get_shipment(uow, late.shipment_id)).status is ShipmentStatus.PENDING
    event = uow.committed[-1].event
    assert isinstance(event, events_pb2.ShipmentDispatched)
    assert (event.shipment_id, event.carrier, event.tracking_number, event.version) == (
        early.shipment_id,
        early.carrier,
        early.tracking_number,
        2,
    )
    assert await service.dispatch_due_shipments(uow, clock=clock) == []


async def test_a_dispatch_round_takes_at_most_one_batch(uow: Uow, clock: Clock) -> None:
    for _ in range(3):
        await create(uow, clock)
    clock.advance(DISPATCH_DELAY)

    first = await service.dispatch_due_shipments(uow, clock=clock, limit=2)
    rest = await service.dispatch_due_shipments(uow, clock=clock, limit=2)

    assert (len(first), len(rest)) == (2, 1)


async def test_a_cancelled_shipment_is_never_dispatched(uow: Uow, clock: Clock) -> None:
    shipment = await create(uow, clock)
    await cancel(uow, clock, shipment.shipment_id)
    clock.advance(DISPATCH_DELAY)

    assert await service.dispatch_due_shipments(uow, clock=clock) == []


# --- OrderCancelled -------------------------------------------------------------------------
async def order_cancelled(
    uow: Uow, clock: Clock, cancellation: OrderCancellation, event_key: str = ""
) -> OrderCancellationOutcome:
    return await service.cancel_for_cancelled_order(
        uow, event_key=event_key or new_id(), cancellation=cancellation, clock=clock
    )


async def test_a_cancelled_order_cancels_its_shipment_once_however_often_delivered(
    uow: Uow, clock: Clock
) -> None:
    shipment = await create(uow, clock)
    cancellation = OrderCancellation(shipment.order_id, shipment.shipment_id, "order cancelled")
    event_key = new_id()

    first = await order_cancelled(uow, clock, cancellation, event_key)
    redelivered = await order_cancelled(uow, clock, cancellation, event_key)

    assert first.effect is OrderCancellationEffect.CANCELLED
    assert redelivered == first
    assert (
        emitted(uow).count((f"shipments/{shipment.shipment_id}", events_pb2.ShipmentCancelled)) == 1
    )
    stored = await service.get_shipment(uow, shipment.shipment_id)
    assert (stored.status, stored.cancel_reason) == (ShipmentStatus.CANCELLED, "order cancelled")


async def test_a_cancelled_order_without_a_shipment_id_finds_the_orders_live_shipment(
    uow: Uow, clock: Clock
) -> None:
    shipment = await create(uow, clock)

    outcome = await order_cancelled(uow, clock, OrderCancellation(shipment.order_id, "", ""))

    assert outcome.effect is OrderCancellationEffect.CANCELLED
    assert outcome.shipment is not None
    assert outcome.shipment.shipment_id == shipment.shipment_id


async def test_a_cancelled_order_is_handled_without_effect_when_there_is_nothing_to_cancel(
    uow: Uow, clock: Clock
) -> None:
    gone = await create(uow, clock)
    await cancel(uow, clock, gone.shipment_id)
    sent = await create(uow, clock)
    clock.advance(DISPATCH_DELAY)
    await service.dispatch_due_shipments(uow, clock=clock)
    events_before, commits_before = len(uow.committed), uow.commits

    nothing = await order_cancelled(uow, clock, OrderCancellation(new_id(), "", ""))
    already = await order_cancelled(
        uow, clock, OrderCancellation(gone.order_id, gone.shipment_id, "")
    )
    too_late = await order_cancelled(
        uow, clock, OrderCancellation(sent.order_id, sent.shipment_id, "")
    )

    assert nothing.effect is OrderCancellationEffect.NO_SHIPMENT
    assert already.effect is OrderCancellationEffect.ALREADY_CANCELLED
    assert too_late.effect is OrderCancellationEffect.TOO_LATE
    assert len(uow.committed) == events_before  # no event for any of them
    assert uow.commits == commits_before + 3  # each delivery still committed its claim
