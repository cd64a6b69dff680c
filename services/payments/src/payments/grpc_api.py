"""The gRPC servicer: request messages to use-case calls, results back to messages; and
payments' outcomes as the contract names them (ERRORS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from payments import service
from payments.domain import (
    AuthorizationRequest,
    CaptureExceedsAuthorization,
    CaptureRequest,
    CurrencyMismatch,
    PaymentAlreadyCaptured,
    PaymentNotAuthorized,
    PaymentNotCaptured,
    PaymentNotFound,
    ProcessorUnavailable,
    RefundExceedsCapture,
    RefundRequest,
    VoidRequest,
)
from payments.messages import money_from_proto, payment_to_proto
from payments.processor import CardProcessor
from payments.repository import Repositories
from shop.payments.v1 import payments_service_pb2 as pb
from shop.payments.v1.errors_pb2 import ErrorReason
from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceServicer

Context = aio.ServicerContext[Any, Any]


def _reason(value: ErrorReason.ValueType) -> Reason:
    return Reason.of(ErrorReason, value)


ERRORS = ErrorMap(
    {
        PaymentNotFound: (
            grpc.StatusCode.NOT_FOUND,
            _reason(ErrorReason.ERROR_REASON_PAYMENT_NOT_FOUND),
        ),
        PaymentNotAuthorized: (
            grpc.StatusCode.FAILED_PRECONDITION,
            _reason(ErrorReason.ERROR_REASON_PAYMENT_NOT_AUTHORIZED),
        ),
        PaymentAlreadyCaptured: (
            grpc.StatusCode.FAILED_PRECONDITION,
            _reason(ErrorReason.ERROR_REASON_PAYMENT_ALREADY_CAPTURED),
        ),
        PaymentNotCaptured: (
            grpc.StatusCode.FAILED_PRECONDITION,
            _reason(ErrorReason.ERROR_REASON_PAYMENT_NOT_CAPTURED),
        ),
        CaptureExceedsAuthorization: (
            grpc.StatusCode.FAILED_PRECONDITION,
            _reason(ErrorReason.ERROR_REASON_CAPTURE_EXCEEDS_AUTHORIZATION),
        ),
        RefundExceedsCapture: (
            grpc.StatusCode.FAILED_PRECONDITION,
            _reason(ErrorReason.ERROR_REASON_REFUND_EXCEEDS_CAPTURE),
        ),
        CurrencyMismatch: (
            grpc.StatusCode.INVALID_ARGUMENT,
            _reason(ErrorReason.ERROR_REASON_CURRENCY_MISMATCH),
        ),
        # The outcome is unknown; the mesh retries UNAVAILABLE for these IDEMPOTENT methods,
        # with the same idempotency key.
        ProcessorUnavailable: (
            grpc.StatusCode.UNAVAILABLE,
            _reason(ErrorReason.ERROR_REASON_PROCESSOR_UNAVAILABLE),
        ),
    }
)


class PaymentsApi(PaymentsServiceServicer):
    def __init__(
        self, unit_of_work: Callable[[], UnitOfWork[Repositories]], processor: CardProcessor
    ) -> None:
        self._uow = unit_of_work
        self._processor = processor

    async def AuthorizePayment(
        self, request: pb.AuthorizePaymentRequest, context: Context
    ) -> pb.AuthorizePaymentResponse:
        payment = await service.authorize_payment(
            self._uow(),
            self._processor,
            idempotency_key=request.idempotency_key,
            request=AuthorizationRequest(
                order_id=request.order_id,
                customer_id=request.customer_id,
                amount=money_from_proto(request.amount),
                payment_token=request.payment_token,
            ),
        )
        return pb.AuthorizePaymentResponse(payment=payment_to_proto(payment))

    async def CapturePayment(
        self, request: pb.CapturePaymentRequest, context: Context
    ) -> pb.CapturePaymentResponse:
        payment = await service.capture_payment(
            self._uow(),
            self._processor,
            idempotency_key=request.idempotency_key,
            request=CaptureRequest(
                payment_id=request.payment_id,
                amount=money_from_proto(request.amount) if request.HasField("amount") else None,
            ),
        )
        return pb.CapturePaymentResponse(payment=payment_to_proto(payment))

    async def VoidAuthorization(
        self, request: pb.VoidAuthorizationRequest, context: Context
    ) -> pb.VoidAuthorizationResponse:
        payment = await service.void_authorization(
            self._uow(),
            self._processor,
            idempotency_key=request.idempotency_key,
            request=VoidRequest(payment_id=request.payment_id, reason=request.reason),
        )
        return pb.VoidAuthorizationResponse(payment=payment_to_proto(payment))

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context: Context
    ) -> pb.RefundPaymentResponse:
        payment = await service.refund_payment(
            self._uow(),
            self._processor,
            idempotency_key=request.idempotency_key,
            request=RefundRequest(
                payment_id=request.payment_id,
                amount=money_from_proto(request.amount) if request.HasField("amount") else None,
                reason=request.reason,
            ),
        )
        return pb.RefundPaymentResponse(payment=payment_to_proto(payment))

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: Context
    ) -> pb.GetPaymentResponse:
        payment = await service.get_payment(self._uow(), request.payment_id)
        return pb.GetPaymentResponse(payment=payment_to_proto(payment))
