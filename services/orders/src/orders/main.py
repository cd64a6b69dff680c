"""Wiring: `python -m orders serve` runs the service, `python -m orders migrate` brings its
database schema to head and exits. Configuration comes from SHOP_* environment variables."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from chassis import clients
from chassis.app import Runtime, ServiceApp, Wiring, periodic
from orders import admission, consumers, prices
from orders.grpc_api import ERRORS, OrdersApi
from orders.metrics import SAGAS
from orders.peers import GrpcInventory, GrpcPayments, GrpcShipping, Peers
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.service import Clock, UoW, utc_now

# services/orders/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def peers(runtime: Runtime) -> Peers:
    """Payments, inventory and shipping through the instance's sidecar."""
    settings = runtime.settings
    return Peers(
        payments=GrpcPayments(lambda: clients.channel(settings, "payments")),
        inventory=GrpcInventory(lambda: clients.channel(settings, "inventory")),
        shipping=GrpcShipping(lambda: clients.channel(settings, "shipping")),
    )


SAGA_COUNT_INTERVAL_S = 5.0


def saga_counter(unit_of_work: UoW) -> Callable[[], Awaitable[bool]]:
    """One GROUP BY over the sagas into the `orders_sagas{phase}` gauge (`shop status`)."""

    async def count() -> bool:
        async with unit_of_work() as uow:  # a pooled connection: read ones serve callers
            counts = await uow.repos.sagas.count_by_phase()
        for phase, count in counts.items():
            SAGAS.labels(phase.value).set(count)
        return False

    return count


def saga_db_slots(pool_size: int) -> int:
    """The runner's share of the pool: a third, so that with the consumers (one
    transaction each at a time) the API still finds a connection."""
    return max(1, pool_size // 3)


def wire(
    runtime: Runtime,
    *,
    clock: Clock = utc_now,
    poll_interval_s: float = 0.5,
    backfill: bool = True,
) -> Wiring:
    """The servicer, the saga runner and its counter, the consumers (prices, order
    history, cancellation outcomes) and the price backfill. Tests pass their own clock and
    poll interval (functools.partial)."""
    unit_of_work = runtime.units_of_work(Repositories.on)
    services = peers(runtime)
    runner = SagaRunner(
        unit_of_work,
        services,
        owner=runtime.settings.instance,
        poll_interval_s=poll_interval_s,
        db_slots=saga_db_slots(runtime.settings.db_pool_size),
        clock=clock,
    )
    admitting = admission.Admission(unit_of_work)
    api = OrdersApi(
        unit_of_work,
        shipping=services.shipping,
        wake=runner.wake,
        admit=admitting.admit,
        clock=clock,
    )
    workers = [
        runner.worker(),
        periodic("saga-counter", saga_counter(unit_of_work), SAGA_COUNT_INTERVAL_S),
        periodic("admission", admitting.refresh, admission.REFRESH_INTERVAL_S),
    ]
    if backfill:
        catalog = lambda: clients.channel(runtime.settings, "catalog")  # noqa: E731
        workers.append(prices.backfill_worker(unit_of_work, catalog))
    return Wiring(
        servicers=[api],
        workers=workers,
        subscriptions=[
            prices.subscription(unit_of_work),
            *consumers.subscriptions(unit_of_work, clock),
        ],
    )


app = ServiceApp(
    "orders",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
