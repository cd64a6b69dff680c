"""Audit's use cases: one function each, one unit of work each. Nothing about gRPC or
NATS: they take and return domain values."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from audit import domain, page_tokens
from audit.domain import (
    EMPTY_CHAIN,
    AuditRecord,
    ChainVerifier,
    EventFacts,
    EventQuery,
    ReceivedEvent,
    Recorded,
    SequenceOutOfRange,
    Verification,
)
from audit.repository import Repositories
from chassis.uow import UnitOfWork, retry_conflicts

Clock = Callable[[], datetime]
FactsOf = Callable[[bytes], EventFacts | None]
"""What a stored event's bytes say about it (None if they do not decode): messages.facts_of."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
VERIFY_BATCH = 500  # records read per query while verifying


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Page:
    records: list[AuditRecord]
    next_page_token: str  # empty on the last page


@retry_conflicts
async def record_event(
    uow: UnitOfWork[Repositories], received: ReceivedEvent, *, clock: Clock = utc_now
) -> Recorded:
    """Appends the event to the chain, once per event id.

    The log is the consumer's inbox: the event's id is recorded (unique) in the same
    transaction as the append, and looked up under the head's lock, so a redelivery, even
    a concurrent one, finds it and appends nothing."""
    async with uow:
        log = uow.repos.log
        head = await log.lock_head()  # one appender at a time: one chain, no forks
        earlier = await log.find(received.facts.event_id)
        if earlier is not None:
            domain.ensure_same_event(earlier, received)
            return Recorded(earlier.sequence, appended=False)
        record = domain.append(head, received, clock())
        await log.append(record)
        await uow.commit()
    return Recorded(record.sequence, appended=True)


async def list_events(
    uow: UnitOfWork[Repositories], query: EventQuery, *, page_size: int, page_token: str
) -> Page:
    """Matching records in audit order (ascending sequence), a page at a time."""
    after = page_tokens.decode(page_token, query)
    size = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    async with uow.read():
        found = await uow.repos.log.matching(query, after_sequence=after, limit=size + 1)
    page = found[:size]
    more = len(found) > size
    return Page(page, page_tokens.encode(page[-1].sequence, query) if more else "")


async def verify_chain(
    uow: UnitOfWork[Repositories],
    *,
    first: int | None,
    last: int | None,
    facts_of: FactsOf,
) -> Verification:
    """Recomputes the chain over records `first`..`last` (default: the whole log, up to
    the head) and reports the first broken record. Reads in batches; records appended
    meanwhile lie beyond the head it read first, so they are not part of this check."""
    start = first or 1
    async with uow.read():
        log = uow.repos.log
        head = await log.head()
        if start > max(head.sequence, 1):
            raise SequenceOutOfRange(start, head.sequence)
        end = head.sequence if last is None else min(last, head.sequence)
        previous = EMPTY_CHAIN if start == 1 else _link(await log.get(start - 1))
        verifier = ChainVerifier(start, previous, head)
        position = start
        while position <= end and not verifier.broken:
            batch = await log.between(position, end, limit=VERIFY_BATCH)
            for record in batch:
                if not verifier.check(record, facts_of(record.event)):
                    break
            if len(batch) < VERIFY_BATCH:
                break
            position = batch[-1].sequence + 1
    return verifier.result(end)


def _link(record: AuditRecord | None) -> domain.ChainHead | None:
    return None if record is None else record.link
