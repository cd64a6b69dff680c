"""Wiring: `python -m catalog serve` runs the service, `python -m catalog migrate` brings its
database schema to head and exits. Configuration comes from SHOP_* environment variables."""

from __future__ import annotations

import argparse
import asyncio

from catalog import schema, seed
from catalog.grpc_api import SERVICE_NAME, CatalogApi
from chassis.config import ServiceSettings
from chassis.db import Database
from chassis.migrations import MigrationGate
from chassis.server import ServiceRegistration, serve
from shop.catalog.v1.catalog_service_pb2_grpc import add_CatalogServiceServicer_to_server


def services(db: Database) -> list[ServiceRegistration]:
    return [ServiceRegistration(SERVICE_NAME, add_CatalogServiceServicer_to_server, CatalogApi(db))]


async def start_up(db: Database) -> None:
    """Loads the seed catalog (the chassis runs this once the schema is at head)."""
    await seed.apply(db, seed.load())


async def run(settings: ServiceSettings) -> None:
    db = Database(settings.database_url)
    gate = MigrationGate(settings.database_url, schema.MIGRATIONS_DIR)
    await serve(
        settings,
        services=services(db),
        migrations=gate,
        on_start=lambda: start_up(db),
        on_stop=db.dispose,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m catalog", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate"])
    command = parser.parse_args(argv).command
    settings = ServiceSettings()  # from SHOP_* environment variables
    if command == "migrate":
        schema.upgrade_to_head(settings.database_url)
    else:
        asyncio.run(run(settings))
