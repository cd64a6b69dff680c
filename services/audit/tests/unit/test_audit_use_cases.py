"""Audit's use cases in memory (chassis.testing.InMemoryUnitOfWork, an in-memory log):
recording once per event, listing with filters and pages, verifying the chain."""

from __future__ import annotations

import dataclasses

import pytest
from audit_examples import Clock, at_minute, price_envelope, received, stock_envelope
from audit_fakes import in_memory_uow, log_of

from audit import messages, service
from audit.domain import (
    ChainBreak,
    ConflictingEvent,
    EventQuery,
    Recorded,
    SequenceOutOfRange,
    Verification,
)
from audit.repository import Repositories
from chassis.page_tokens import InvalidPageToken
from chassis.testing import InMemoryUnitOfWork
from shop.common.v1.event_pb2 import EventEnvelope

pytestmark = pytest.mark.anyio

Uow = InMemoryUnitOfWork[Repositories]


@pytest.fixture
def uow() -> Uow:
    return in_memory_uow()


async def record_all(uow: Uow, *envelopes: EventEnvelope) -> list[Recorded]:
    return [await service.record_event(uow, received(e), clock=Clock()) for e in envelopes]


async def verify(uow: Uow, first: int | None = None, last: int | None = None) -> Verification:
    return await service.verify_chain(uow, first=first, last=last, facts_of=messages.facts_of_bytes)


async def test_events_are_appended_in_the_order_they_are_recorded(uow: Uow) -> None:
    first, second = price_envelope("SKU-1"), stock_envelope("SKU-2")

    outcomes = await record_all(uow, first, second)

    assert outcomes == [Recorded(1, appended=True), Recorded(2, appended=True)]
    log = log_of(uow)
    assert [r.facts.event_id for r in log.records.values()] == [first.id, second.id]
    assert log.records[1].event == first.SerializeToString(deterministic=True)
    assert log.records[1].stream == "CATALOG"
    assert log.records[2].previous_hash == log.records[1].record_hash
    assert uow.committed == []  # audit publishes nothing


async def test_a_redelivered_event_is_not_appended_again(uow: Uow) -> None:
    envelope = price_envelope()
    await record_all(uow, envelope, stock_envelope())

    again = await record_all(uow, envelope)

    assert again == [Recorded(1, appended=False)]
    assert sorted(log_of(uow).records) == [1, 2]


async def test_another_event_under_a_recorded_id_is_refused_and_not_appended(uow: Uow) -> None:
    original = price_envelope(amount=500)
    await record_all(uow, original)
    forged = price_envelope(amount=1)
    forged.id = original.id

    with pytest.raises(ConflictingEvent):
        await record_all(uow, forged)

    assert sorted(log_of(uow).records) == [1]


async def test_events_are_listed_by_aggregate_type_correlation_and_time(uow: Uow) -> None:
    await record_all(
        uow,
        price_envelope("SKU-1", at=at_minute(1), correlation_id="req-a"),
        stock_envelope("SKU-1", at=at_minute(2)),
        price_envelope("SKU-2", at=at_minute(3), correlation_id="req-a"),
        price_envelope("SKU-1", at=at_minute(4)),
    )

    async def sequences(query: EventQuery) -> list[int]:
        page = await service.list_events(uow, query, page_size=0, page_token="")
        return [r.sequence for r in page.records]

    assert await sequences(EventQuery()) == [1, 2, 3, 4]
    assert await sequences(EventQuery(subject="products/SKU-1")) == [1, 4]
    assert await sequences(EventQuery(type="shop.inventory.v1.StockLow")) == [2]
    assert await sequences(EventQuery(correlation_id="req-a")) == [1, 3]
    assert await sequences(EventQuery(start_time=at_minute(2), end_time=at_minute(4))) == [2, 3]
    assert await sequences(EventQuery(subject="products/SKU-1", start_time=at_minute(2))) == [4]


async def test_pages_follow_each_other_until_the_last(uow: Uow) -> None:
    await record_all(uow, *(price_envelope(f"SKU-{n}") for n in range(5)))
    query = EventQuery(type="shop.catalog.v1.PriceChanged")

    pages, token = [], ""
    while True:
        page = await service.list_events(uow, query, page_size=2, page_token=token)
        pages.append([r.sequence for r in page.records])
        token = page.next_page_token
        if not token:
            break

    assert pages == [[1, 2], [3, 4], [5]]


async def test_a_page_token_only_works_with_the_filters_it_was_issued_for(uow: Uow) -> None:
    await record_all(uow, price_envelope("SKU-1"), price_envelope("SKU-1"))
    first = await service.list_events(
        uow, EventQuery(subject="products/SKU-1"), page_size=1, page_token=""
    )

    with pytest.raises(InvalidPageToken, match="different request"):
        await service.list_events(
            uow, EventQuery(subject="products/SKU-2"), page_size=1, page_token=first.next_page_token
        )
    with pytest.raises(InvalidPageToken, match="malformed"):
        await service.list_events(uow, EventQuery(), page_size=1, page_token="not-a-token")


async def test_an_untouched_log_verifies_intact_whatever_the_batch_size(
    uow: Uow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "VERIFY_BATCH", 2)
    await record_all(uow, *(price_envelope(f"SKU-{n}") for n in range(5)))

    result = await verify(uow)

    assert result == dataclasses.replace(
        result, records_checked=5, first_broken=0, broken_because=None
    )
    assert result.head == log_of(uow).records[5].link


async def test_verification_names_the_first_altered_or_removed_record(
    uow: Uow, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "VERIFY_BATCH", 2)
    await record_all(uow, *(price_envelope(f"SKU-{n}") for n in range(6)))
    records = log_of(uow).records
    del records[5]
    records[3] = dataclasses.replace(records[3], event=records[3].event + b"\x08\x01")

    altered_first = await verify(uow)
    removed_next = await verify(uow, first=4)

    assert (altered_first.first_broken, altered_first.broken_because) == (
        3,
        ChainBreak.RECORD_ALTERED,
    )
    assert (removed_next.first_broken, removed_next.broken_because) == (
        5,
        ChainBreak.RECORD_MISSING,
    )


async def test_a_range_is_verified_on_its_own(uow: Uow) -> None:
    await record_all(uow, *(price_envelope(f"SKU-{n}") for n in range(6)))
    records = log_of(uow).records
    records[6] = dataclasses.replace(records[6], event=b"forged")

    before_the_damage = await verify(uow, first=2, last=5)

    assert before_the_damage.intact
    assert before_the_damage.records_checked == 4
    assert before_the_damage.head == records[5].link


async def test_an_empty_log_is_intact_but_a_start_beyond_the_head_is_out_of_range(
    uow: Uow,
) -> None:
    empty = await verify(uow)
    assert empty.intact
    assert empty.records_checked == 0

    await record_all(uow, price_envelope())
    with pytest.raises(SequenceOutOfRange):
        await verify(uow, first=2)
