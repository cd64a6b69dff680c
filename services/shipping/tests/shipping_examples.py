"""Example values shared by shipping's unit and integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chassis.uow import SqlUnitOfWork
from shipping.domain import Address, ParcelLine, ServiceLevel, ShipmentRequest
from shipping.repository import Repositories

UnitsOfWork = Callable[[], SqlUnitOfWork[Repositories]]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DISPATCH_DELAY = timedelta(minutes=10)


class Clock:
    """Time the tests move instead of waiting for it."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def new_id() -> str:
    return str(uuid.uuid4())


def address(country_code: str = "DE", **changes: object) -> Address:
    base = Address(
        recipient="Erika Mustermann",
        lines=("Heidestraße 17",),
        locality="Köln",
        region="",
        postal_code="51147",
        country_code=country_code,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def shipment_request(
    order_id: str = "",
    *,
    country_code: str = "DE",
    level: ServiceLevel = ServiceLevel.STANDARD,
    lines: tuple[ParcelLine, ...] = (ParcelLine("KIT-KNIFE-1", 2), ParcelLine("TEA-SENCHA", 1)),
) -> ShipmentRequest:
    return ShipmentRequest(
        order_id=order_id or new_id(),
        customer_id="customer-7",
        address=address(country_code),
        lines=lines,
        service_level=level,
    )
