"""Payments under dependency faults (the chassis's scenarios, chassis.testing.faults): a
database outage answers UNAVAILABLE, takes the instance out of rotation and heals by
itself; a full connection pool sheds calls as RESOURCE_EXHAUSTED. The probe is an
authorization (a fresh key each time), the call every order starts with."""

from __future__ import annotations

import uuid

import grpc
import grpc.aio
import pytest

from chassis.app import ServiceApp
from chassis.testing.faults import assert_database_outage_survived, assert_full_pool_sheds
from shop.common.v1 import money_pb2
from shop.payments.v1 import payments_service_pb2 as pb
from shop.payments.v1.payments_service_pb2_grpc import PaymentsServiceStub

pytestmark = pytest.mark.anyio


async def authorize(channel: grpc.aio.Channel) -> object:
    request = pb.AuthorizePaymentRequest(
        idempotency_key=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        customer_id="alice",
        amount=money_pb2.Money(currency_code="EUR", amount_minor=1_000),
        payment_token="tok_visa",
    )
    return await PaymentsServiceStub(channel).AuthorizePayment(request, timeout=10)


async def test_a_database_outage_is_unavailable_and_the_instance_heals_by_itself(
    service_app: ServiceApp,
) -> None:
    await assert_database_outage_survived(service_app, authorize)


async def test_a_full_pool_sheds_the_call_instead_of_queueing_it(
    service_app: ServiceApp, clean_database: str
) -> None:
    await assert_full_pool_sheds(service_app, clean_database, authorize)
