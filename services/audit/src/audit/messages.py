"""Conversions between the contract's messages and audit's domain: envelopes in, records
and verifications out.

The chain hashes an envelope's deterministic serialization (fields in number order), as
the contract says, so the bytes audit stores and a verifier outside recomputes agree."""

from __future__ import annotations

import uuid
from datetime import UTC

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from audit.domain import (
    AuditRecord,
    ChainBreak,
    EventFacts,
    EventQuery,
    ReceivedEvent,
    Verification,
)
from shop.audit.v1 import audit_record_pb2
from shop.audit.v1 import audit_service_pb2 as pb
from shop.common.v1.event_pb2 import EventEnvelope

BREAKS = {
    ChainBreak.RECORD_ALTERED: pb.CHAIN_BREAK_RECORD_ALTERED,
    ChainBreak.LINK_BROKEN: pb.CHAIN_BREAK_LINK_BROKEN,
    ChainBreak.RECORD_MISSING: pb.CHAIN_BREAK_RECORD_MISSING,
}


def canonical_bytes(envelope: EventEnvelope) -> bytes:
    return envelope.SerializeToString(deterministic=True)


def facts_of(envelope: EventEnvelope) -> EventFacts:
    return EventFacts(
        # As Postgres stores a uuid, so the indexed id and the event's agree byte for byte.
        event_id=str(uuid.UUID(envelope.id)),
        type=envelope.type,
        subject=envelope.subject,
        correlation_id=envelope.correlation_id,
        time=envelope.time.ToDatetime(tzinfo=UTC),
    )


def facts_of_bytes(event: bytes) -> EventFacts | None:
    """What stored event bytes say about the event; None if they are no envelope."""
    try:
        return facts_of(EventEnvelope.FromString(event))
    except (DecodeError, ValueError):
        return None


def received(envelope: EventEnvelope, *, stream: str, stream_sequence: int) -> ReceivedEvent:
    return ReceivedEvent(facts_of(envelope), canonical_bytes(envelope), stream, stream_sequence)


def query_from_proto(request: pb.ListEventsRequest) -> EventQuery:
    return EventQuery(
        subject=request.subject,
        type=request.type,
        correlation_id=request.correlation_id,
        start_time=request.start_time.ToDatetime(tzinfo=UTC)
        if request.HasField("start_time")
        else None,
        end_time=request.end_time.ToDatetime(tzinfo=UTC) if request.HasField("end_time") else None,
    )


def record_to_proto(record: AuditRecord) -> audit_record_pb2.AuditRecord:
    record_time = Timestamp()
    record_time.FromDatetime(record.record_time)
    return audit_record_pb2.AuditRecord(
        sequence=record.sequence,
        event=_envelope(record.event),
        stream=record.stream,
        stream_sequence=record.stream_sequence,
        record_time=record_time,
        record_hash=record.record_hash,
        previous_hash=record.previous_hash,
    )


def _envelope(event: bytes) -> EventEnvelope:
    """The stored event; an empty one if its bytes were mangled (VerifyChain names such a
    record; listing the rest of the log goes on)."""
    try:
        return EventEnvelope.FromString(event)
    except DecodeError:
        return EventEnvelope()


def verification_to_proto(verification: Verification) -> pb.VerifyChainResponse:
    because = verification.broken_because
    return pb.VerifyChainResponse(
        intact=verification.intact,
        records_checked=verification.records_checked,
        first_broken_sequence=verification.first_broken,
        head_hash=verification.head.record_hash,
        head_sequence=verification.head.sequence,
        broken_because=pb.CHAIN_BREAK_UNSPECIFIED if because is None else BREAKS[because],
    )
