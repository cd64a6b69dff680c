"""Payments over gRPC, end to end in-process: the chassis server with its interceptors
(contract validation, errors), the servicer and the simulated processor, called through a
real grpc.aio channel. Every test card answers as the README says; every refusal carries
the contract's status and ErrorReason."""

from __future__ import annotations

import dataclasses
import functools
import logging
import uuid
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2

from chassis import status
from chassis.app import ServiceApp
from chassis.db import Database
from chassis.testing import outbox_events
from payments.main import wire
from payments.simulated_processor import SimulatedProcessor
from shop.common.v1 import money_pb2
from shop.payments.v1 import payment_pb2
from shop.payments.v1 import payments_service_pb2 as pb
from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceStub

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceAsyncStub

pytestmark = pytest.mark.anyio

ORDER_ID = "0b4f1d0e-5c1a-4d6e-9f3b-7a2c8e6d1f40"
CARD_NUMBER = "4242424242424242"


@pytest.fixture(scope="module")
def processor() -> SimulatedProcessor:
    return SimulatedProcessor()


@pytest.fixture(scope="module")
def served_app(service_app: ServiceApp, processor: SimulatedProcessor) -> ServiceApp:
    """The payments app with a processor the tests can look into."""
    return dataclasses.replace(service_app, wire=functools.partial(wire, processor=processor))


@pytest.fixture(scope="module")
def payments(channel: grpc.aio.Channel) -> PaymentsServiceAsyncStub:
    return PaymentsServiceStub(channel)


def key() -> str:
    return str(uuid.uuid4())


def eur(amount_minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="EUR", amount_minor=amount_minor)


def authorize_request(token: str = "tok_visa", amount: int = 10_000) -> pb.AuthorizePaymentRequest:
    return pb.AuthorizePaymentRequest(
        idempotency_key=key(),
        order_id=ORDER_ID,
        customer_id="alice",
        amount=eur(amount),
        payment_token=token,
    )


async def authorized(
    payments: PaymentsServiceAsyncStub, amount: int = 10_000
) -> payment_pb2.Payment:
    return (await payments.AuthorizePayment(authorize_request(amount=amount))).payment


async def captured(payments: PaymentsServiceAsyncStub) -> payment_pb2.Payment:
    payment = await authorized(payments)
    request = pb.CapturePaymentRequest(idempotency_key=key(), payment_id=payment.payment_id)
    return (await payments.CapturePayment(request)).payment


async def refused(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    return raised.value


def reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, str]:
    info = status.error_info(error)
    assert info is not None
    return error.code(), info.reason, info.domain


# --- the test cards --------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
async def test_an_approving_card_is_authorized(
    payments: PaymentsServiceAsyncStub, token: str
) -> None:
    response = await payments.AuthorizePayment(authorize_request(token))

    payment = response.payment
    assert payment.status == payment_pb2.PAYMENT_STATUS_AUTHORIZED
    assert payment.authorized_amount == eur(10_000)
    assert (payment.captured_amount, payment.refunded_amount) == (eur(0), eur(0))
    assert payment.decline_reason == payment_pb2.DECLINE_REASON_UNSPECIFIED
    assert (payment.version, payment.order_id, payment.customer_id) == (1, ORDER_ID, "alice")
    assert payment.create_time.seconds > 0


@pytest.mark.parametrize(
    ("token", "decline_reason"),
    [
        ("tok_declined", payment_pb2.DECLINE_REASON_PROCESSOR_DECLINED),
        ("tok_insufficient_funds", payment_pb2.DECLINE_REASON_INSUFFICIENT_FUNDS),
        ("tok_expired_card", payment_pb2.DECLINE_REASON_CARD_EXPIRED),
        ("tok_fraudulent", payment_pb2.DECLINE_REASON_SUSPECTED_FRAUD),
        ("tok_unheard_of", payment_pb2.DECLINE_REASON_INVALID_PAYMENT_TOKEN),
    ],
)
async def test_a_declining_card_is_declined_not_an_error(
    payments: PaymentsServiceAsyncStub, token: str, decline_reason: int
) -> None:
    response = await payments.AuthorizePayment(authorize_request(token))

    assert response.payment.status == payment_pb2.PAYMENT_STATUS_DECLINED
    assert response.payment.decline_reason == decline_reason


async def test_the_timeout_card_is_unavailable_with_the_processor_reason(
    payments: PaymentsServiceAsyncStub,
) -> None:
    error = await refused(payments.AuthorizePayment(authorize_request("tok_timeout")))

    assert reason(error) == (
        grpc.StatusCode.UNAVAILABLE,
        "PROCESSOR_UNAVAILABLE",
        "payments.shop.local",
    )


async def test_the_flaky_card_is_unavailable_once_then_authorized_by_the_same_retry(
    payments: PaymentsServiceAsyncStub, processor: SimulatedProcessor
) -> None:
    request = authorize_request("tok_flaky")
    error = await refused(payments.AuthorizePayment(request))
    assert reason(error)[:2] == (grpc.StatusCode.UNAVAILABLE, "PROCESSOR_UNAVAILABLE")

    retry = await payments.AuthorizePayment(request)

    assert retry.payment.status == payment_pb2.PAYMENT_STATUS_AUTHORIZED
    flaky = [a for a in processor.authorizations() if a.card.token == "tok_flaky"]
    assert len(flaky) == 1  # one hold, though it was asked twice


# --- a payment's life ------------------------------------------------------------------------


async def test_capture_part_then_refund_part_then_the_rest(
    payments: PaymentsServiceAsyncStub, module_db: Database
) -> None:
    payment = await authorized(payments)
    pid = payment.payment_id

    capture = await payments.CapturePayment(
        pb.CapturePaymentRequest(idempotency_key=key(), payment_id=pid, amount=eur(8_000))
    )
    partial = await payments.RefundPayment(
        pb.RefundPaymentRequest(idempotency_key=key(), payment_id=pid, amount=eur(3_000))
    )
    rest = await payments.RefundPayment(
        pb.RefundPaymentRequest(idempotency_key=key(), payment_id=pid, reason="returned")
    )
    stored = await payments.GetPayment(pb.GetPaymentRequest(payment_id=pid))

    assert capture.payment.status == payment_pb2.PAYMENT_STATUS_CAPTURED
    assert capture.payment.captured_amount == eur(8_000)
    assert partial.payment.status == payment_pb2.PAYMENT_STATUS_PARTIALLY_REFUNDED
    assert rest.payment.status == payment_pb2.PAYMENT_STATUS_REFUNDED
    assert rest.payment.refunded_amount == eur(8_000)
    assert stored.payment == rest.payment
    assert stored.payment.version == 4
    assert len(await outbox_events(module_db, aggregate=f"payments/{pid}")) == 4


async def test_voiding_releases_and_voiding_again_returns_it_unchanged(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await authorized(payments)
    request = pb.VoidAuthorizationRequest(
        idempotency_key=key(), payment_id=payment.payment_id, reason="out of stock"
    )

    voided = await payments.VoidAuthorization(request)
    again = await payments.VoidAuthorization(
        pb.VoidAuthorizationRequest(idempotency_key=key(), payment_id=payment.payment_id)
    )

    assert voided.payment.status == payment_pb2.PAYMENT_STATUS_VOIDED
    assert again.payment == voided.payment


async def test_events_carry_the_callers_request_id(
    payments: PaymentsServiceAsyncStub, module_db: Database
) -> None:
    response = await payments.AuthorizePayment(
        authorize_request(), metadata=(("x-request-id", "saga-7-step-1"),)
    )

    [event] = await outbox_events(module_db, aggregate=f"payments/{response.payment.payment_id}")
    assert event.envelope.correlation_id == "saga-7-step-1"
    assert event.envelope.source == "//payments.shop.local"
    assert event.subject == "payments.payment.authorized"


# --- idempotency over the wire ---------------------------------------------------------------


async def test_a_replay_answers_the_same_and_a_reused_key_is_already_exists(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await authorized(payments)
    request = pb.CapturePaymentRequest(
        idempotency_key=key(), payment_id=payment.payment_id, amount=eur(5_000)
    )
    first = await payments.CapturePayment(request)

    replay = await payments.CapturePayment(request, metadata=(("x-request-id", "retry"),))
    request.amount.amount_minor = 4_000
    error = await refused(payments.CapturePayment(request))

    assert replay == first
    assert reason(error) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", "shop.local")


# --- refusals: the contract's status and reason for each -------------------------------------


async def test_an_unknown_payment_is_not_found(payments: PaymentsServiceAsyncStub) -> None:
    missing = str(uuid.uuid4())

    error = await refused(payments.GetPayment(pb.GetPaymentRequest(payment_id=missing)))

    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND", "payments.shop.local")
    info = status.error_info(error)
    assert info is not None
    assert info.metadata["payment_id"] == missing


async def test_capturing_a_declined_payment_is_not_authorized(
    payments: PaymentsServiceAsyncStub,
) -> None:
    declined = (await payments.AuthorizePayment(authorize_request("tok_declined"))).payment

    error = await refused(
        payments.CapturePayment(
            pb.CapturePaymentRequest(idempotency_key=key(), payment_id=declined.payment_id)
        )
    )

    assert reason(error)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_AUTHORIZED")


async def test_capturing_twice_and_voiding_after_capture_are_already_captured(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await captured(payments)

    again = await refused(
        payments.CapturePayment(
            pb.CapturePaymentRequest(idempotency_key=key(), payment_id=payment.payment_id)
        )
    )
    void = await refused(
        payments.VoidAuthorization(
            pb.VoidAuthorizationRequest(idempotency_key=key(), payment_id=payment.payment_id)
        )
    )

    for error in (again, void):
        assert reason(error)[:2] == (
            grpc.StatusCode.FAILED_PRECONDITION,
            "PAYMENT_ALREADY_CAPTURED",
        )


async def test_refunding_an_uncaptured_payment_is_not_captured(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await authorized(payments)

    error = await refused(
        payments.RefundPayment(
            pb.RefundPaymentRequest(idempotency_key=key(), payment_id=payment.payment_id)
        )
    )

    assert reason(error)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "PAYMENT_NOT_CAPTURED")


async def test_capturing_more_than_authorized_is_refused(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await authorized(payments)

    error = await refused(
        payments.CapturePayment(
            pb.CapturePaymentRequest(
                idempotency_key=key(), payment_id=payment.payment_id, amount=eur(10_001)
            )
        )
    )

    assert reason(error)[:2] == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CAPTURE_EXCEEDS_AUTHORIZATION",
    )


async def test_refunding_more_than_remains_is_refused(payments: PaymentsServiceAsyncStub) -> None:
    payment = await captured(payments)

    error = await refused(
        payments.RefundPayment(
            pb.RefundPaymentRequest(
                idempotency_key=key(), payment_id=payment.payment_id, amount=eur(10_001)
            )
        )
    )

    assert reason(error)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURE")


async def test_an_amount_in_another_currency_is_a_field_error(
    payments: PaymentsServiceAsyncStub,
) -> None:
    payment = await authorized(payments)

    error = await refused(
        payments.CapturePayment(
            pb.CapturePaymentRequest(
                idempotency_key=key(),
                payment_id=payment.payment_id,
                amount=money_pb2.Money(currency_code="USD", amount_minor=100),
            )
        )
    )

    assert reason(error)[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "CURRENCY_MISMATCH")
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["amount.currency_code"]


async def test_a_request_breaking_the_contract_is_invalid_argument_naming_each_field(
    payments: PaymentsServiceAsyncStub,
) -> None:
    request = authorize_request()
    request.idempotency_key = "not-a-uuid"
    request.amount.amount_minor = 0
    request.customer_id = "has spaces"

    error = await refused(payments.AuthorizePayment(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert {v.field for v in bad_request.field_violations} == {
        "idempotency_key",
        "amount",
        "customer_id",
    }


async def test_a_card_number_is_refused_and_appears_in_no_answer_or_log_line(
    payments: PaymentsServiceAsyncStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    error = await refused(payments.AuthorizePayment(authorize_request(CARD_NUMBER)))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [v.field for v in bad_request.field_violations] == ["payment_token"]
    assert CARD_NUMBER not in (error.details() or "")
    assert CARD_NUMBER not in str(bad_request)
    assert caplog.records  # the call was logged ...
    assert not [r for r in caplog.records if CARD_NUMBER in r.getMessage() + str(r.__dict__)]
