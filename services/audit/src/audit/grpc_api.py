"""The gRPC servicer: request messages to use-case calls, results back to messages; and
audit's outcomes as the contract names them (ERRORS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from audit import messages, service
from audit.domain import SequenceOutOfRange
from audit.repository import Repositories
from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from shop.audit.v1 import audit_service_pb2 as pb
from shop.audit.v1.audit_service_pb2_grpc import AuditServiceServicer
from shop.audit.v1.errors_pb2 import ErrorReason

Context = aio.ServicerContext[Any, Any]

ERRORS = ErrorMap(
    {
        SequenceOutOfRange: (
            grpc.StatusCode.OUT_OF_RANGE,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_SEQUENCE_OUT_OF_RANGE),
        ),
    }
)


class AuditApi(AuditServiceServicer):
    def __init__(self, unit_of_work: Callable[[], UnitOfWork[Repositories]]) -> None:
        self._uow = unit_of_work

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Context
    ) -> pb.ListEventsResponse:
        page = await service.list_events(
            self._uow(),
            messages.query_from_proto(request),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListEventsResponse(
            records=[messages.record_to_proto(r) for r in page.records],
            next_page_token=page.next_page_token,
        )

    async def VerifyChain(
        self, request: pb.VerifyChainRequest, context: Context
    ) -> pb.VerifyChainResponse:
        verification = await service.verify_chain(
            self._uow(),
            first=request.from_sequence if request.HasField("from_sequence") else None,
            last=request.to_sequence if request.HasField("to_sequence") else None,
            facts_of=messages.facts_of_bytes,
        )
        return messages.verification_to_proto(verification)
