"""Wiring: `python -m payments serve` runs the service, `python -m payments migrate` brings
its database schema to head and exits. Configuration comes from SHOP_* environment
variables (the chassis's); the card processor is the built-in simulated one."""

from __future__ import annotations

from pathlib import Path

from chassis.app import Runtime, ServiceApp, Wiring
from chassis.consumer import Delivery, Subscription
from payments import events, service
from payments.grpc_api import ERRORS, PaymentsApi
from payments.processor import CardProcessor
from payments.repository import Repositories
from payments.simulated_processor import SimulatedProcessor
from shop.orders.v1.events_pb2 import OrderCancelled

# services/payments/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(runtime: Runtime, *, processor: CardProcessor | None = None) -> Wiring:
    """The instance's servicer and its OrderCancelled consumer (refund or void, on its own:
    choreographed). Tests pass a processor of their own (functools.partial) to look at what
    it was asked."""
    unit_of_work = runtime.units_of_work(Repositories.on)
    card_processor = processor or SimulatedProcessor()

    async def on_order_cancelled(event: OrderCancelled, delivery: Delivery) -> None:
        await service.refund_or_void_cancelled_order(
            unit_of_work(),
            card_processor,
            event_id=delivery.key,
            cancellation=events.order_cancellation(event),
        )

    return Wiring(
        servicers=[PaymentsApi(unit_of_work, card_processor)],
        subscriptions=[
            Subscription("payments-order-cancelled", [OrderCancelled], on_order_cancelled)
        ],
    )


app = ServiceApp(
    "payments",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
