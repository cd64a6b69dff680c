"""Audit's domain: an append-only log of domain events in which every record carries the
hash of the one before it, so altering, removing or inserting a record shows.

The chain, as the contract (shop/audit/v1/audit_record.proto) defines it:

    record_hash(n) = SHA-256(record_hash(n - 1) || event_bytes(n)),  record_hash(0) = 32 zero bytes

where `event_bytes` is the event's envelope in deterministic protobuf serialization, the
bytes audit stores. Sequences are 1, 2, 3, ... without gaps. Nothing here does I/O or knows
about protobuf: events arrive as bytes with the facts audit indexes them by.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime

from chassis.domain import DomainError

HASH_SIZE = 32  # SHA-256
GENESIS_HASH = bytes(HASH_SIZE)  # the `previous_hash` of record 1


def link_hash(previous_hash: bytes, event: bytes) -> bytes:
    """The hash of a record: SHA-256 over its predecessor's hash, then its event's bytes."""
    return hashlib.sha256(previous_hash + event).digest()


@dataclass(frozen=True)
class EventFacts:
    """What audit looks events up by: attributes of their envelope."""

    event_id: str
    type: str  # "shop.orders.v1.OrderPlaced"
    subject: str  # the aggregate, "orders/5f0c..."
    correlation_id: str
    time: datetime  # the envelope's: when the producer committed the change


@dataclass(frozen=True)
class ReceivedEvent:
    """An event as a consumer received it, ready to be recorded."""

    facts: EventFacts
    event: bytes  # the envelope, deterministically serialized: what the chain hashes
    stream: str  # "ORDERS"
    stream_sequence: int  # its position in that stream; 0 if unknown


@dataclass(frozen=True)
class ChainHead:
    """The end of the chain: its last record's sequence and hash (0 and GENESIS_HASH
    while the log is empty)."""

    sequence: int
    record_hash: bytes


EMPTY_CHAIN = ChainHead(0, GENESIS_HASH)


@dataclass(frozen=True)
class AuditRecord:
    """One link of the chain: an event, where it sits, and the hashes that tie it in."""

    sequence: int
    facts: EventFacts
    event: bytes
    stream: str
    stream_sequence: int
    record_time: datetime
    previous_hash: bytes
    record_hash: bytes

    @property
    def link(self) -> ChainHead:
        """The chain as it ends with this record."""
        return ChainHead(self.sequence, self.record_hash)


@dataclass(frozen=True)
class EventQuery:
    """Which records ListEvents wants; an empty field (or None) means any."""

    subject: str = ""
    type: str = ""
    correlation_id: str = ""
    start_time: datetime | None = None  # inclusive, on the event's own time
    end_time: datetime | None = None  # exclusive


@dataclass(frozen=True)
class Recorded:
    """What recording an event did."""

    sequence: int
    appended: bool  # False: it was recorded before (a redelivery); nothing was appended


class ConflictingEvent(DomainError):
    """An event arrived with the id of a recorded one but other content: a producer bug or
    a forgery. It is not recorded (the log holds one event per id); the consumer
    dead-letters it, with this reason, for someone to look at."""

    def __init__(self, event_id: str, sequence: int) -> None:
        super().__init__(
            f"event {event_id} was recorded as #{sequence} with other content",
            metadata={"event_id": event_id, "sequence": str(sequence)},
        )


class SequenceOutOfRange(DomainError):
    """Verification was asked to start beyond the last recorded event."""

    def __init__(self, first: int, head: int) -> None:
        super().__init__(
            f"from_sequence {first} is beyond the last recorded event (#{head})",
            field="from_sequence",
            metadata={"from_sequence": str(first), "head_sequence": str(head)},
        )


def append(head: ChainHead, received: ReceivedEvent, now: datetime) -> AuditRecord:
    """The record that extends the chain ending at `head` with `received`."""
    return AuditRecord(
        sequence=head.sequence + 1,
        facts=received.facts,
        event=received.event,
        stream=received.stream,
        stream_sequence=received.stream_sequence,
        record_time=now,
        previous_hash=head.record_hash,
        record_hash=link_hash(head.record_hash, received.event),
    )


def ensure_same_event(recorded: AuditRecord, received: ReceivedEvent) -> None:
    """A redelivery carries the very bytes that were recorded; anything else under the
    same id is refused."""
    if recorded.event != received.event:
        raise ConflictingEvent(received.facts.event_id, recorded.sequence)


# --- verification ---------------------------------------------------------------------


class ChainBreak(enum.Enum):
    RECORD_ALTERED = "RECORD_ALTERED"
    """Its event does not hash to its record_hash, or its indexed facts are not its event's."""
    LINK_BROKEN = "LINK_BROKEN"
    """Its previous_hash is not its predecessor's hash, or its hash is not the head's."""
    RECORD_MISSING = "RECORD_MISSING"
    """It is gone: a later record exists, or the head says it was appended."""


@dataclass(frozen=True)
class Verification:
    records_checked: int  # records that verified, in order, before the first broken one
    head: ChainHead  # the last of them (the trusted starting link if none)
    first_broken: int  # 0 when intact
    broken_because: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken_because is None


class ChainVerifier:
    """Recomputes the chain over records fed in ascending sequence, from `first` on, and
    stops at the first broken one. Pure and incremental, so a long log can be read in
    batches.

    `previous` is the trusted link before `first` (EMPTY_CHAIN for first = 1), or None
    when that record is gone too: then the first record's own previous_hash is taken on
    trust. `recorded_head` is the head audit wrote with its last append; reaching its
    sequence, the record there must have its hash (a tail rewritten with recomputed hashes
    shows there), and records up to it must exist (a removed last record shows there)."""

    def __init__(self, first: int, previous: ChainHead | None, recorded_head: ChainHead) -> None:
        self._expected = first
        self._previous_hash = None if previous is None else previous.record_hash
        self._verified = previous or ChainHead(first - 1, b"")
        self._recorded_head = recorded_head
        self._checked = 0
        self._break: tuple[int, ChainBreak] | None = None

    @property
    def broken(self) -> bool:
        return self._break is not None

    def check(self, record: AuditRecord, event_facts: EventFacts | None) -> bool:
        """Checks the next record; `event_facts` are the facts its stored event decodes to
        (None if it does not decode). False once the chain is broken: stop feeding."""
        if self._break is None:
            self._break = self._fault(record, event_facts)
            if self._break is None:
                self._checked += 1
                self._verified = record.link
                self._previous_hash = record.record_hash
                self._expected = record.sequence + 1
        return self._break is None

    def _fault(
        self, record: AuditRecord, event_facts: EventFacts | None
    ) -> tuple[int, ChainBreak] | None:
        if record.sequence != self._expected:
            return self._expected, ChainBreak.RECORD_MISSING
        if self._previous_hash is not None and record.previous_hash != self._previous_hash:
            return record.sequence, ChainBreak.LINK_BROKEN
        if link_hash(record.previous_hash, record.event) != record.record_hash:
            return record.sequence, ChainBreak.RECORD_ALTERED
        if event_facts != record.facts:
            return record.sequence, ChainBreak.RECORD_ALTERED
        head = self._recorded_head
        if record.sequence == head.sequence and record.record_hash != head.record_hash:
            return record.sequence, ChainBreak.LINK_BROKEN
        return None

    def result(self, last: int) -> Verification:
        """The outcome once every record up to `last` (the end of the range) was fed."""
        if self._break is None and self._expected <= last:
            self._break = (self._expected, ChainBreak.RECORD_MISSING)  # the tail is gone
        first_broken, because = self._break or (0, None)
        return Verification(self._checked, self._verified, first_broken, because)
