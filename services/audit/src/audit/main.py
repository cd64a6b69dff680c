"""Wiring: `python -m audit serve` runs the service (its API and a consumer per context
stream), `python -m audit migrate` brings its database schema to head and exits.
Configuration comes from SHOP_* environment variables (the chassis's)."""

from __future__ import annotations

from pathlib import Path

from audit.events import EventRecorder
from audit.grpc_api import ERRORS, AuditApi
from audit.repository import Repositories
from audit.service import Clock, utc_now
from chassis.app import Runtime, ServiceApp, Wiring

# services/audit/migrations, beside the package's src/ directory.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def wire(runtime: Runtime, *, clock: Clock = utc_now) -> Wiring:
    """The API, and the consumers that record every event."""
    unit_of_work = runtime.units_of_work(Repositories.on)
    recorder = EventRecorder(unit_of_work, clock=clock)
    return Wiring(
        servicers=[AuditApi(unit_of_work)],
        subscriptions=recorder.subscriptions(),
    )


app = ServiceApp(
    "audit",
    wire=wire,
    errors=ERRORS,
    migrations=MIGRATIONS_DIR,
    repositories=Repositories.on,
)
