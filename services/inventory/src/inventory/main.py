"""Wiring: `python -m inventory serve` runs the service, `python -m inventory migrate`
brings its database schema to head and exits. Configuration comes from SHOP_* environment
variables (the chassis's) and SHOP_INVENTORY_* ones (settings.py)."""

from __future__ import annotations

from pathlib import Path

from chassis.app import Runtime, ServiceApp, Wiring
from chassis.consumer import Delivery, Subscription
from inventory import events, seed, service
from inventory.grpc_api import ERRORS, InventoryApi
from inventory.repository import Repositories
from inventory.service import Clock, utc_now
from inventory.settings import InventorySettings
from inventory.sweeper import expiry_sweeper
from shop.orders.v1.events_pb2 import OrderCancelled

# services/inventory/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(
    runtime: Runtime, *, settings: InventorySettings | None = None, clock: Clock = utc_now
) -> Wiring:
    """The instance's servicer, seed, expiry sweeper and OrderCancelled consumer (release
    or restock, on its own: choreographed). Tests pass their own settings and clock
    (functools.partial) to move time instead of waiting for it."""
    settings = settings or InventorySettings()
    unit_of_work = runtime.units_of_work(Repositories.on)
    sweeper = expiry_sweeper(unit_of_work, interval_s=settings.expiry_sweep_interval_s, clock=clock)

    async def on_order_cancelled(event: OrderCancelled, delivery: Delivery) -> None:
        await service.release_or_restock_cancelled_order(
            unit_of_work(),
            event_key=delivery.key,
            cancellation=events.order_cancellation(event),
            clock=clock,
        )

    return Wiring(
        servicers=[
            InventoryApi(unit_of_work, reservation_ttl=settings.reservation_ttl, clock=clock)
        ],
        on_start=[lambda: seed.apply(unit_of_work, seed.load())],
        workers=[sweeper],
        subscriptions=[
            Subscription("inventory-order-cancelled", [OrderCancelled], on_order_cancelled)
        ],
    )


app = ServiceApp(
    "inventory",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
