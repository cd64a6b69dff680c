"""Wiring: `python -m shipping serve` runs the service, `python -m shipping migrate` brings
its database schema to head and exits. Configuration comes from SHOP_* environment
variables (the chassis's) and SHOP_SHIPPING_* ones (settings.py)."""

from __future__ import annotations

from pathlib import Path

from chassis import clients
from chassis.app import Runtime, ServiceApp, Wiring
from chassis.consumer import Delivery, Subscription
from shipping import events, rates, service
from shipping.dispatcher import dispatch_timer
from shipping.grpc_api import ERRORS, ShippingApi
from shipping.repository import Repositories
from shipping.service import Clock, utc_now
from shipping.settings import ShippingSettings
from shipping.weights import CatalogWeights
from shop.orders.v1.events_pb2 import OrderCancelled

# services/shipping/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(
    runtime: Runtime, *, settings: ShippingSettings | None = None, clock: Clock = utc_now
) -> Wiring:
    """The instance's servicer, dispatch timer and OrderCancelled consumer. Tests pass
    their own settings and clock (functools.partial) to move time instead of waiting."""
    settings = settings or ShippingSettings()
    unit_of_work = runtime.units_of_work(Repositories.on)
    # The catalog is reached through the instance's sidecar (SHOP_MESH_OUTBOUND).
    weights = CatalogWeights(lambda: clients.channel(runtime.settings, "catalog"))
    dispatcher = dispatch_timer(unit_of_work, interval_s=settings.dispatch_interval_s, clock=clock)
    api = ShippingApi(
        unit_of_work,
        carriers=rates.Carriers(rates.load(settings.rate_table), settings.dispatch_delay),
        weights=weights,
        clock=clock,
    )

    async def on_order_cancelled(event: OrderCancelled, delivery: Delivery) -> None:
        await service.cancel_for_cancelled_order(
            unit_of_work(),
            event_key=delivery.key,
            cancellation=events.order_cancellation(event),
            clock=clock,
        )

    return Wiring(
        servicers=[api],
        workers=[dispatcher],
        subscriptions=[
            Subscription("shipping-order-cancelled", [OrderCancelled], on_order_cancelled)
        ],
    )


app = ServiceApp(
    "shipping",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
