"""The gRPC API in-process (chassis.testing.serving) on Postgres: a customer reads and
replaces their own preferences (the token subject the gateway passes on), once per key;
channels without a provider are refused as the contract says; notifications are listed
newest first, suppressed ones included, page by page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from notifications_examples import ADA, ADA_EMAIL, UnitsOfWork, event_id, shipment_dispatched

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.testing import serving
from notifications import events, service
from notifications.main import CHANNELS
from shop.notifications.v1 import notification_pb2 as npb
from shop.notifications.v1 import notifications_service_pb2 as pb
from shop.notifications.v1 import preferences_pb2
from shop.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceStub

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.notifications.v1.notifications_service_pb2_grpc import (
        NotificationsServiceAsyncStub,
    )

pytestmark = pytest.mark.anyio

AS_ADA = (("x-shop-subject", ADA),)


@pytest.fixture
async def api(
    service_app: ServiceApp, runtime: Runtime
) -> AsyncIterator[NotificationsServiceAsyncStub]:
    async with serving(service_app, runtime) as channel:
        yield NotificationsServiceStub(channel)


def email_on(address: str = ADA_EMAIL) -> preferences_pb2.Preferences:
    return preferences_pb2.Preferences(
        email_enabled=True, email=address, muted_topics=[npb.TOPIC_MARKETING]
    )


async def test_a_customer_without_preferences_gets_the_defaults(
    api: NotificationsServiceAsyncStub,
) -> None:
    reply = await api.GetPreferences(pb.GetPreferencesRequest(), metadata=AS_ADA)

    assert reply.preferences == preferences_pb2.Preferences(muted_topics=[npb.TOPIC_MARKETING])


async def test_set_preferences_replaces_them_once_per_key(
    api: NotificationsServiceAsyncStub,
) -> None:
    key = str(uuid.uuid4())
    request = pb.SetPreferencesRequest(idempotency_key=key, preferences=email_on())

    first = await api.SetPreferences(request, metadata=AS_ADA)
    retry = await api.SetPreferences(request, metadata=AS_ADA)
    read = await api.GetPreferences(pb.GetPreferencesRequest(), metadata=AS_ADA)
    other = pb.SetPreferencesRequest(idempotency_key=key, preferences=email_on("x@example.com"))
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await api.SetPreferences(other, metadata=AS_ADA)

    assert first == retry
    assert first.preferences.version == 1
    assert first.preferences.HasField("update_time")
    assert read.preferences == first.preferences
    assert reused.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_preferences_are_each_customer_s_own(api: NotificationsServiceAsyncStub) -> None:
    request = pb.SetPreferencesRequest(idempotency_key=str(uuid.uuid4()), preferences=email_on())
    await api.SetPreferences(request, metadata=AS_ADA)

    bob = await api.GetPreferences(
        pb.GetPreferencesRequest(), metadata=(("x-shop-subject", "bob"),)
    )

    assert bob.preferences.version == 0


async def test_enabling_sms_without_a_provider_is_a_failed_precondition(
    api: NotificationsServiceAsyncStub,
) -> None:
    sms = preferences_pb2.Preferences(sms_enabled=True, phone_e164="+4915112345678")
    request = pb.SetPreferencesRequest(idempotency_key=str(uuid.uuid4()), preferences=sms)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.SetPreferences(request, metadata=AS_ADA)

    info = status.detail(refused.value, error_details_pb2.ErrorInfo)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert info is not None
    assert (info.reason, info.domain) == ("CHANNEL_NOT_AVAILABLE", "notifications.shop.local")


async def test_email_enabled_without_an_address_is_refused_by_the_contract(
    api: NotificationsServiceAsyncStub,
) -> None:
    no_address = preferences_pb2.Preferences(email_enabled=True)
    request = pb.SetPreferencesRequest(idempotency_key=str(uuid.uuid4()), preferences=no_address)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.SetPreferences(request, metadata=AS_ADA)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_call_without_a_customer_is_unauthenticated(
    api: NotificationsServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.GetPreferences(pb.GetPreferencesRequest())

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_list_notifications_pages_through_the_caller_s_own_newest_first(
    api: NotificationsServiceAsyncStub, uow: UnitsOfWork
) -> None:
    for customer in (ADA, ADA, ADA, "bob"):
        cause = events.cause_of(shipment_dispatched(customer_id=customer), event_id())
        await service.record_notifications(
            uow(), delivery_key=event_id(), cause=cause, channels=CHANNELS
        )

    first = await api.ListNotifications(pb.ListNotificationsRequest(page_size=2), metadata=AS_ADA)
    second = await api.ListNotifications(
        pb.ListNotificationsRequest(page_size=2, page_token=first.next_page_token), metadata=AS_ADA
    )
    with pytest.raises(grpc.aio.AioRpcError) as other_filter:
        await api.ListNotifications(
            pb.ListNotificationsRequest(
                page_size=2, page_token=first.next_page_token, channel=npb.CHANNEL_SMS
            ),
            metadata=AS_ADA,
        )

    listed = [*first.notifications, *second.notifications]
    assert len(listed) == 3
    assert second.next_page_token == ""
    assert {n.customer_id for n in listed} == {ADA}
    times = [n.create_time.ToDatetime() for n in listed]
    assert times == sorted(times, reverse=True)
    # Never opted in: recorded, so "why did I not get an email?" has an answer.
    assert {n.status for n in listed} == {npb.NOTIFICATION_STATUS_SUPPRESSED_BY_PREFERENCES}
    assert all("DHL" in n.body and n.subject for n in listed)
    assert other_filter.value.code() == grpc.StatusCode.INVALID_ARGUMENT
