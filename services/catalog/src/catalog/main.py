"""Wiring: `python -m catalog serve` runs the service, `python -m catalog migrate` brings its
database schema to head and exits. Configuration comes from SHOP_* environment variables."""

from __future__ import annotations

import argparse
import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from catalog import schema, seed
from catalog.grpc_api import SERVICE_NAME, CatalogApi
from chassis.config import ServiceSettings
from chassis.db import Database
from chassis.migrations import MigrationGate
from chassis.server import ServiceRegistration, serve
from shop.catalog.v1.catalog_service_pb2_grpc import add_CatalogServiceServicer_to_server

log = logging.getLogger(__name__)


def services(db: Database) -> list[ServiceRegistration]:
    return [ServiceRegistration(SERVICE_NAME, add_CatalogServiceServicer_to_server, CatalogApi(db))]


async def start_up(db: Database, gate: MigrationGate, check_interval_s: float) -> None:
    """Loads the seed catalog once the schema is at head."""
    await wait_until_migrated(gate, check_interval_s)
    await seed.apply(db, seed.load())


async def run(settings: ServiceSettings) -> None:
    db = Database(settings.database_url)
    gate = MigrationGate(settings.database_url, schema.MIGRATIONS_DIR)
    await serve(
        settings,
        services=services(db),
        migrations=gate,
        on_start=lambda: start_up(db, gate, settings.migration_check_interval_s),
        on_stop=db.dispose,
    )


async def wait_until_migrated(gate: MigrationGate, interval_s: float) -> None:
    """The seed needs the schema; the chassis runs on_start before its gate opens, so the
    seed waits for the same condition itself (the service stays NOT_SERVING meanwhile)."""
    reported = ""
    while True:
        try:
            revision = await gate.check()
        except (SQLAlchemyError, OSError) as error:
            state = f"cannot read the schema revision ({error.__class__.__name__})"
        else:
            if revision.at_head:
                return
            state = str(revision)
        if state != reported:
            log.warning("seed waits for migrations: %s", state)
            reported = state
        await asyncio.sleep(interval_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate"])
    command = parser.parse_args(argv).command
    settings = ServiceSettings()  # from SHOP_* environment variables
    if command == "migrate":
        schema.upgrade_to_head(settings.database_url)
    else:
        asyncio.run(run(settings))
