"""The gRPC servicer: request messages to use-case calls, results back to messages; and
notifications' outcomes as the contract names them (ERRORS).

Every method acts on the caller's own data: the customer is the verified token subject the
gateway passes on as `x-shop-subject`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from notifications import service
from notifications.domain import Channel, ChannelNotAvailable
from notifications.messages import (
    CHANNEL_FROM_PROTO,
    choice_from_proto,
    notification_to_proto,
    preferences_to_proto,
)
from notifications.repository import Repositories
from notifications.service import PreferencesChange
from shop.notifications.v1 import notifications_service_pb2 as pb
from shop.notifications.v1.errors_pb2 import ErrorReason
from shop.notifications.v1.notifications_service_pb2_grpc import NotificationsServiceServicer

Context = aio.ServicerContext[Any, Any]

SUBJECT_HEADER = "x-shop-subject"  # set by the gateway from the verified JWT's `sub`

ERRORS = ErrorMap(
    {
        ChannelNotAvailable: (
            grpc.StatusCode.FAILED_PRECONDITION,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_CHANNEL_NOT_AVAILABLE),
        ),
    }
)


class NotificationsApi(NotificationsServiceServicer):
    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork[Repositories]],
        *,
        channels: frozenset[Channel],
    ) -> None:
        self._uow = unit_of_work
        self._channels = channels  # those this deployment can deliver on

    async def ListNotifications(
        self, request: pb.ListNotificationsRequest, context: Context
    ) -> pb.ListNotificationsResponse:
        page = await service.list_notifications(
            self._uow(),
            customer_id=await _customer(context),
            channel=CHANNEL_FROM_PROTO.get(request.channel),
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListNotificationsResponse(
            notifications=[notification_to_proto(n) for n in page.notifications],
            next_page_token=page.next_page_token,
        )

    async def GetPreferences(
        self, request: pb.GetPreferencesRequest, context: Context
    ) -> pb.GetPreferencesResponse:
        preferences = await service.get_preferences(self._uow(), await _customer(context))
        return pb.GetPreferencesResponse(preferences=preferences_to_proto(preferences))

    async def SetPreferences(
        self, request: pb.SetPreferencesRequest, context: Context
    ) -> pb.SetPreferencesResponse:
        preferences = await service.set_preferences(
            self._uow(),
            idempotency_key=request.idempotency_key,
            change=PreferencesChange(
                await _customer(context), choice_from_proto(request.preferences)
            ),
            available=self._channels,
        )
        return pb.SetPreferencesResponse(preferences=preferences_to_proto(preferences))


async def _customer(context: Context) -> str:
    """The calling customer; a call without one did not come through the gateway's token
    check, and is refused."""
    for key, value in context.invocation_metadata() or ():
        if key == SUBJECT_HEADER and value:
            return str(value)
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, f"no customer: {SUBJECT_HEADER} missing")
    raise AssertionError("unreachable: abort() raises")
