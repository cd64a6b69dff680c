"""The audit log on Postgres: appends, redeliveries, concurrent consumers keeping one
chain, and the ListEvents queries."""

from __future__ import annotations

import asyncio

import pytest
from audit_examples import (
    Clock,
    UnitsOfWork,
    at_minute,
    price_envelope,
    received,
    stock_envelope,
)

from audit import messages, service
from audit.domain import ConflictingEvent, EventQuery, Recorded
from shop.common.v1.event_pb2 import EventEnvelope

pytestmark = pytest.mark.anyio


async def record(uow: UnitsOfWork, envelope: EventEnvelope, stream_sequence: int = 0) -> Recorded:
    return await service.record_event(uow(), received(envelope, stream_sequence), clock=Clock())


async def everything(uow: UnitsOfWork, query: EventQuery | None = None) -> list[int]:
    page = await service.list_events(uow(), query or EventQuery(), page_size=100, page_token="")
    return [r.sequence for r in page.records]


async def test_a_recorded_event_reads_back_exactly_as_it_was_received(uow: UnitsOfWork) -> None:
    envelope = price_envelope("SKU-1")
    await record(uow, envelope, stream_sequence=41)

    page = await service.list_events(uow(), EventQuery(), page_size=0, page_token="")

    [stored] = page.records
    assert stored.event == envelope.SerializeToString(deterministic=True)
    assert stored.facts == messages.facts_of(envelope)
    assert (stored.sequence, stored.stream, stored.stream_sequence) == (1, "CATALOG", 41)
    assert stored.record_time == Clock().now
    assert stored.previous_hash == bytes(32)


async def test_a_redelivery_appends_nothing_and_a_forged_duplicate_is_refused(
    uow: UnitsOfWork,
) -> None:
    envelope = price_envelope()
    first = await record(uow, envelope)
    again = await record(uow, envelope)
    forged = price_envelope(amount=1)
    forged.id = envelope.id

    with pytest.raises(ConflictingEvent):
        await record(uow, forged)

    assert (first, again) == (Recorded(1, appended=True), Recorded(1, appended=False))
    assert await everything(uow) == [1]


async def test_concurrent_appends_extend_one_chain_without_gaps_or_forks(
    uow: UnitsOfWork,
) -> None:
    envelopes = [price_envelope(f"SKU-{n}") for n in range(24)]

    outcomes = await asyncio.gather(*(record(uow, e) for e in envelopes))
    verification = await service.verify_chain(
        uow(), first=None, last=None, facts_of=messages.facts_of_bytes
    )

    assert sorted(o.sequence for o in outcomes) == list(range(1, 25))
    assert verification.intact
    assert verification.records_checked == 24


async def test_concurrent_deliveries_of_one_event_append_it_once(uow: UnitsOfWork) -> None:
    envelope = price_envelope()

    outcomes = await asyncio.gather(*(record(uow, envelope) for _ in range(6)))

    assert sorted(o.appended for o in outcomes) == [False] * 5 + [True]
    assert await everything(uow) == [1]


async def test_list_events_filters_and_pages_on_postgres(uow: UnitsOfWork) -> None:
    for envelope in (
        price_envelope("SKU-1", at=at_minute(1), correlation_id="req-a"),
        stock_envelope("SKU-1", at=at_minute(2)),
        price_envelope("SKU-2", at=at_minute(3), correlation_id="req-a"),
        price_envelope("SKU-1", at=at_minute(4)),
        price_envelope("SKU-1", at=at_minute(5)),
    ):
        await record(uow, envelope)
    query = EventQuery(subject="products/SKU-1", type="shop.catalog.v1.PriceChanged")

    first = await service.list_events(uow(), query, page_size=2, page_token="")
    second = await service.list_events(uow(), query, page_size=2, page_token=first.next_page_token)

    assert [r.sequence for r in first.records] == [1, 4]
    assert [r.sequence for r in second.records] == [5]
    assert second.next_page_token == ""
    assert await everything(uow, EventQuery(correlation_id="req-a")) == [1, 3]
    assert await everything(uow, EventQuery(type="shop.inventory.v1.StockLow")) == [2]
    window = EventQuery(start_time=at_minute(2), end_time=at_minute(4))
    assert await everything(uow, window) == [2, 3]
