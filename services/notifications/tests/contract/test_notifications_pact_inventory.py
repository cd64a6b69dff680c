"""What notifications needs of inventory's StockLow (its pact
pacts/notifications-inventory.json): which product runs low and how many are left, to
alert the customers who bought it. The message goes through the chassis's decoder as
notifications' subscription receives it, then through notifications' reading of it
(events.cause_of)."""

from __future__ import annotations

import pytest

from chassis.app import Runtime, ServiceApp
from chassis.testing import pact
from notifications import events
from notifications.domain import Topic
from shop.inventory.v1.events_pb2 import StockLow

pytestmark = pytest.mark.anyio

PACT = pact.new_pact("notifications", "inventory")
RUNNING_LOW = "a product runs low"
pact.event(
    PACT,
    RUNNING_LOW,
    StockLow,
    {"sku": "KIT-KNIFE-1", "available": 2, "version": pact.int64(2)},  # version: validation
    given="5 x KIT-KNIFE-1 with a low-stock threshold of 2, then 3 of them reserved",
)


async def test_notifications_alerts_about_a_product_running_low(
    service_app: ServiceApp, runtime: Runtime
) -> None:
    subscription = pact.subscribed(service_app, runtime, "notifications-stock")

    low = events.cause_of(pact.received_events(PACT, subscription)[RUNNING_LOW], "event-1")

    assert (low.topic, low.about_sku) == (Topic.STOCK_ALERTS, "KIT-KNIFE-1")
    assert low.values == {"sku": "KIT-KNIFE-1", "available": "2"}


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(PACT)
