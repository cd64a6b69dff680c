"""The hash chain (audit.domain): how records link, and what verification names when a
record was altered, removed or rewritten."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from audit_examples import T0

from audit.domain import (
    EMPTY_CHAIN,
    GENESIS_HASH,
    AuditRecord,
    ChainBreak,
    ChainHead,
    ChainVerifier,
    ConflictingEvent,
    EventFacts,
    ReceivedEvent,
    Verification,
    append,
    ensure_same_event,
)


def event(n: int) -> ReceivedEvent:
    facts = EventFacts(
        event_id=f"00000000-0000-4000-8000-{n:012d}",
        type="shop.catalog.v1.PriceChanged",
        subject=f"products/SKU-{n}",
        correlation_id=f"request-{n}",
        time=T0,
    )
    return ReceivedEvent(facts, f"event bytes {n}".encode(), "CATALOG", n)


def chain(length: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    head = EMPTY_CHAIN
    for n in range(1, length + 1):
        records.append(append(head, event(n), T0))
        head = records[-1].link
    return records


def verify(
    records: list[AuditRecord],
    *,
    head: ChainHead | None = None,
    first: int = 1,
    previous: ChainHead | None = EMPTY_CHAIN,
    last: int | None = None,
) -> Verification:
    """Feeds `records` to a verifier as the service does; each record's event decodes to
    the facts it was recorded with (a test that alters `facts` makes them disagree)."""
    recorded_head = head or records[-1].link
    verifier = ChainVerifier(first, previous, recorded_head)
    for record in records:
        if not verifier.check(record, event(record.sequence).facts):
            break
    return verifier.result(recorded_head.sequence if last is None else last)


def test_record_hash_is_sha256_of_the_previous_hash_then_the_event_bytes() -> None:
    first, second = chain(2)

    assert first.sequence == 1
    assert first.previous_hash == GENESIS_HASH == bytes(32)
    assert first.record_hash == hashlib.sha256(bytes(32) + b"event bytes 1").digest()
    assert second.sequence == 2
    assert second.previous_hash == first.record_hash
    assert second.record_hash == hashlib.sha256(first.record_hash + b"event bytes 2").digest()


def test_an_untouched_chain_is_intact_up_to_its_head() -> None:
    records = chain(5)

    result = verify(records)

    assert result == Verification(5, records[-1].link, 0, None)
    assert result.intact


def test_an_altered_event_is_named_and_nothing_after_it_counts_as_checked() -> None:
    records = chain(5)
    records[2] = dataclasses.replace(records[2], event=b"forged")

    result = verify(records)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.RECORD_ALTERED)
    assert result.records_checked == 2
    assert result.head == records[1].link


def test_an_indexed_fact_that_disagrees_with_the_event_counts_as_altered() -> None:
    records = chain(3)
    hidden = dataclasses.replace(records[1].facts, subject="products/SOMETHING-ELSE")
    records[1] = dataclasses.replace(records[1], facts=hidden)

    result = verify(records)

    assert (result.first_broken, result.broken_because) == (2, ChainBreak.RECORD_ALTERED)


def test_a_removed_record_is_named_by_its_sequence() -> None:
    records = chain(5)
    del records[2]

    result = verify(records)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.RECORD_MISSING)
    assert result.records_checked == 2


def test_removing_the_last_records_shows_against_the_recorded_head() -> None:
    records = chain(5)

    result = verify(records[:3], head=records[-1].link)

    assert (result.first_broken, result.broken_because) == (4, ChainBreak.RECORD_MISSING)
    assert result.records_checked == 3


def test_a_record_rewritten_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records = chain(4)
    forged = append(records[0].link, dataclasses.replace(event(2), event=b"forged"), T0)
    records[1] = dataclasses.replace(forged, facts=records[1].facts)

    result = verify(records)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.LINK_BROKEN)


def test_a_tail_rewritten_with_recomputed_hashes_disagrees_with_the_recorded_head() -> None:
    records = chain(3)
    forged = append(records[1].link, dataclasses.replace(event(3), event=b"forged"), T0)
    records[2] = dataclasses.replace(forged, facts=records[2].facts)

    result = verify(records, head=chain(3)[-1].link)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.LINK_BROKEN)


def test_a_range_starts_from_its_trusted_predecessor_and_ends_where_asked() -> None:
    records = chain(6)

    result = verify(records[2:4], first=3, previous=records[1].link, last=4)

    assert result == Verification(2, records[3].link, 0, None)


def test_a_range_whose_predecessor_is_gone_takes_its_first_link_on_trust() -> None:
    records = chain(4)

    result = verify(records[2:], first=3, previous=None)

    assert result.intact
    assert result.records_checked == 2


def test_a_range_starting_at_a_forged_link_is_broken_there() -> None:
    records = chain(4)
    records[2] = dataclasses.replace(records[2], previous_hash=b"\x01" * 32)

    result = verify(records[2:], first=3, previous=records[1].link)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.LINK_BROKEN)
    assert result.head == records[1].link


def test_a_redelivery_must_carry_the_recorded_bytes() -> None:
    [recorded] = chain(1)
    ensure_same_event(recorded, event(1))

    with pytest.raises(ConflictingEvent) as refused:
        ensure_same_event(recorded, dataclasses.replace(event(1), event=b"other content"))

    assert refused.value.metadata == {"event_id": event(1).facts.event_id, "sequence": "1"}
