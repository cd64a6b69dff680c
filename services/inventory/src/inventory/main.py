"""Wiring: `python -m inventory serve` runs the service, `python -m inventory migrate`
brings its database schema to head and exits. Configuration comes from SHOP_* environment
variables (the chassis's) and SHOP_INVENTORY_* ones (settings.py)."""

from __future__ import annotations

import functools
from pathlib import Path

from chassis.app import Runtime, ServiceApp, Wiring, Worker
from inventory import seed
from inventory.grpc_api import ERRORS, InventoryApi
from inventory.repository import Repositories
from inventory.service import Clock, utc_now
from inventory.settings import InventorySettings
from inventory.sweeper import sweep_expired_reservations

# services/inventory/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(
    runtime: Runtime, *, settings: InventorySettings | None = None, clock: Clock = utc_now
) -> Wiring:
    """The instance's servicer, seed and expiry sweeper. Tests pass their own settings and
    clock (functools.partial) to move time instead of waiting for it."""
    settings = settings or InventorySettings()
    unit_of_work = runtime.units_of_work(Repositories.on)
    sweeper = functools.partial(
        sweep_expired_reservations,
        unit_of_work,
        interval_s=settings.expiry_sweep_interval_s,
        clock=clock,
    )
    return Wiring(
        servicers=[
            InventoryApi(unit_of_work, reservation_ttl=settings.reservation_ttl, clock=clock)
        ],
        on_start=[lambda: seed.apply(unit_of_work, seed.load())],
        workers=[Worker("reservation-expiry", sweeper)],
    )


app = ServiceApp("inventory", wire=wire, errors=ERRORS, migrations=MIGRATIONS_DIR)
