"""Audit over gRPC, end to end in-process: the chassis server with its interceptors
(validation, errors), the migration gate and the servicer, through a real grpc.aio channel.
The log is filled through the use case the consumers call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import psycopg
import pytest
from audit_examples import Clock, UnitsOfWork, at_minute, price_envelope, received
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from sqlalchemy.engine import make_url

from audit import service
from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.testing import serving
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceStub
from shop.common.v1.event_pb2 import EventEnvelope

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.audit.v1.audit_service_pb2_grpc import AuditServiceAsyncStub

pytestmark = pytest.mark.anyio

DOMAIN = "audit.shop.local"


@pytest.fixture
async def audit(service_app: ServiceApp, runtime: Runtime) -> AsyncIterator[AuditServiceAsyncStub]:
    async with serving(service_app, runtime) as channel:
        yield AuditServiceStub(channel)


async def record(uow: UnitsOfWork, *envelopes: EventEnvelope) -> None:
    for envelope in envelopes:
        await service.record_event(uow(), received(envelope), clock=Clock())


def timestamp(minute: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at_minute(minute))
    return stamp


async def test_list_events_returns_the_records_as_received_page_by_page(
    audit: AuditServiceAsyncStub, uow: UnitsOfWork
) -> None:
    envelopes = [price_envelope("SKU-1", at=at_minute(n)) for n in range(3)]
    await record(uow, *envelopes, price_envelope("SKU-2", at=at_minute(3)))
    request = pb.ListEventsRequest(
        subject="products/SKU-1", type="shop.catalog.v1.PriceChanged", page_size=2
    )

    first = await audit.ListEvents(request)
    request.page_token = first.next_page_token
    second = await audit.ListEvents(request)

    records = [*first.records, *second.records]
    assert [r.event for r in records] == envelopes
    assert [r.sequence for r in records] == [1, 2, 3]
    assert records[1].previous_hash == records[0].record_hash
    assert records[0].stream == "CATALOG"
    assert second.next_page_token == ""


async def test_list_events_narrows_by_event_time(
    audit: AuditServiceAsyncStub, uow: UnitsOfWork
) -> None:
    await record(uow, *(price_envelope(f"SKU-{n}", at=at_minute(n)) for n in range(4)))

    reply = await audit.ListEvents(
        pb.ListEventsRequest(start_time=timestamp(1), end_time=timestamp(3))
    )

    assert [r.sequence for r in reply.records] == [2, 3]


async def test_requests_the_contract_refuses_are_invalid_arguments(
    audit: AuditServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as backwards:
        await audit.ListEvents(pb.ListEventsRequest(start_time=timestamp(2), end_time=timestamp(1)))
    with pytest.raises(grpc.aio.AioRpcError) as bad_token:
        await audit.ListEvents(pb.ListEventsRequest(page_token="not-a-token"))

    assert backwards.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = status.detail(bad_token.value, error_details_pb2.ErrorInfo)
    assert info is not None
    assert info.reason == "INVALID_PAGE_TOKEN"


async def test_verify_chain_reports_an_intact_log_and_its_head(
    audit: AuditServiceAsyncStub, uow: UnitsOfWork
) -> None:
    await record(uow, *(price_envelope(f"SKU-{n}") for n in range(3)))
    listed = await audit.ListEvents(pb.ListEventsRequest())

    reply = await audit.VerifyChain(pb.VerifyChainRequest())

    assert reply == pb.VerifyChainResponse(
        intact=True,
        records_checked=3,
        head_sequence=3,
        head_hash=listed.records[-1].record_hash,
    )


async def test_verify_chain_names_a_removed_record(
    audit: AuditServiceAsyncStub, uow: UnitsOfWork, clean_database: str
) -> None:
    await record(uow, *(price_envelope(f"SKU-{n}") for n in range(4)))
    url = make_url(clean_database)
    with psycopg.connect(
        dbname=url.database, user=url.username, host=str(url.query["host"])
    ) as superuser:
        superuser.execute("DELETE FROM audit_records WHERE sequence = 3")

    reply = await audit.VerifyChain(pb.VerifyChainRequest(from_sequence=2))

    assert not reply.intact
    assert reply.first_broken_sequence == 3
    assert reply.broken_because == pb.CHAIN_BREAK_RECORD_MISSING
    assert (reply.records_checked, reply.head_sequence) == (1, 2)


async def test_verifying_from_beyond_the_head_is_out_of_range(
    audit: AuditServiceAsyncStub, uow: UnitsOfWork
) -> None:
    await record(uow, price_envelope())

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await audit.VerifyChain(pb.VerifyChainRequest(from_sequence=5))

    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    info = status.detail(refused.value, error_details_pb2.ErrorInfo)
    assert info is not None
    assert (info.reason, info.domain) == ("SEQUENCE_OUT_OF_RANGE", DOMAIN)
