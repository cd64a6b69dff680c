"""Payments keeps every consumer's pact with it (pacts/*-payments.json): each call a
consumer names runs through payments' real servicer (the chassis interceptors, validation,
the use case, Postgres) in its in-process instance, with the simulated card processor; each
event is produced by such calls and read back from payments' outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc.aio
import pytest

from chassis.db import Database
from chassis.testing import pact
from shop.common.v1.money_pb2 import Money
from shop.payments.v1 import payments_service_pb2 as pb
from shop.payments.v1.events_pb2 import (
    PaymentCaptured,
    PaymentDeclined,
    PaymentRefunded,
    PaymentVoided,
)
from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceStub

pytestmark = pytest.mark.anyio
PAID = "customer-1's payment of EUR 183.00 was authorized and captured"


async def built_in(_: pact.Params) -> None:
    """The simulated processor answers each test card the same way, always."""


@dataclass(frozen=True)
class Payments:
    """The provider's states, set up through payments' own API: the processor that holds
    an authorization is the instance's."""

    channel: grpc.aio.Channel

    async def authorize(self, params: pact.Params, token: str) -> pb.AuthorizePaymentResponse:
        reply: pb.AuthorizePaymentResponse = await PaymentsServiceStub(
            self.channel
        ).AuthorizePayment(
            pb.AuthorizePaymentRequest(
                idempotency_key=str(uuid.uuid4()),
                order_id=params["order_id"],
                customer_id="customer-1",
                amount=Money(currency_code="EUR", amount_minor=18300),
                payment_token=token,
            )
        )
        return reply

    async def authorized(self, params: pact.Params) -> pact.Aliases:
        """ "payment P is authorized for EUR 183.00": P is the consumer's name for it."""
        reply = await self.authorize(params, "tok_visa")
        return {params["payment_id"]: reply.payment.payment_id}

    async def declined(self, params: pact.Params) -> None:
        await self.authorize(params, "tok_insufficient_funds")

    async def capture(self, params: pact.Params) -> str:
        """An authorization of EUR 183.00 for the order, captured; its payment id."""
        reply = await self.authorize(params, "tok_visa")
        await PaymentsServiceStub(self.channel).CapturePayment(
            pb.CapturePaymentRequest(
                idempotency_key=str(uuid.uuid4()), payment_id=reply.payment.payment_id
            )
        )
        return str(reply.payment.payment_id)

    async def captured(self, params: pact.Params) -> None:
        await self.capture(params)

    async def voided(self, params: pact.Params) -> None:
        reply = await self.authorize(params, "tok_visa")
        await PaymentsServiceStub(self.channel).VoidAuthorization(
            pb.VoidAuthorizationRequest(
                idempotency_key=str(uuid.uuid4()),
                payment_id=reply.payment.payment_id,
                reason="order cancelled",
            )
        )

    async def refunded(self, params: pact.Params) -> None:
        """Everything captured given back (RefundPayment with no amount)."""
        await PaymentsServiceStub(self.channel).RefundPayment(
            pb.RefundPaymentRequest(
                idempotency_key=str(uuid.uuid4()), payment_id=await self.capture(params)
            )
        )


async def test_payments_keeps_its_consumers_pacts(
    channel: grpc.aio.Channel, module_db: Database
) -> None:
    payments = Payments(channel)
    await pact.verify_provider(
        "payments",
        states={
            "card tok_visa approves": built_in,
            "card tok_insufficient_funds declines for insufficient funds": built_in,
            "payment 0b6e2c1d-9f3a-4e5b-8c7d-1a2b3c4d5e6f is authorized for EUR 183.00": (
                payments.authorized
            ),
            "customer-1's card tok_insufficient_funds was declined for EUR 183.00": (
                payments.declined
            ),
            PAID: payments.captured,
            "customer-1's authorization of EUR 183.00 was voided": payments.voided,
            f"{PAID}, then refunded in full": payments.refunded,
        },
        events={
            "a card was declined": lambda: pact.newest_event(module_db, PaymentDeclined),
            "a payment was captured": lambda: pact.newest_event(module_db, PaymentCaptured),
            "a payment was voided": lambda: pact.newest_event(module_db, PaymentVoided),
            "a payment was refunded": lambda: pact.newest_event(module_db, PaymentRefunded),
        },
        channel=channel,
        reset=lambda: pact.emptied(module_db),
    )
