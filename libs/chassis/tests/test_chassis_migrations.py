"""The migration gate, and the chassis tables through a service's Alembic migrations."""

import asyncio
import logging
import shutil
from pathlib import Path

import grpc.aio
import pytest
from alembic import command
from alembic.config import Config
from chassis_support import CATALOG, FakeCatalog, settings
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from chassis.app import ServiceApp, Wiring
from chassis.migrations import MigrationGate, SchemaRevision
from chassis.server import Server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

# A service's migrations directory, as small as it gets: its env.py is the chassis's, its
# first revision creates the chassis tables, the way every service's does.
EXAMPLE_MIGRATIONS = Path(__file__).with_name("example_migrations")


def migrations_dir(root: Path) -> Path:
    shutil.copytree(EXAMPLE_MIGRATIONS, root)
    return root


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


async def chassis_tables(database_url: str) -> list[str | None]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [
                await conn.scalar(text(f"SELECT to_regclass('{name}')::text"))
                for name in ("idempotency_keys", "outbox")
            ]
    finally:
        await engine.dispose()


def test_the_gate_compares_the_database_revision_with_the_scripts_head(
    database_url: str, tmp_path: Path
) -> None:
    scripts = migrations_dir(tmp_path / "migrations")

    async def revisions() -> list[SchemaRevision]:
        gate = MigrationGate(database_url, scripts)
        try:
            before = await gate.check()
            await asyncio.to_thread(command.upgrade, alembic_config(scripts, database_url), "head")
            return [before, await gate.check()]
        finally:
            await gate.close()

    before, after = asyncio.run(revisions())

    assert (before.current, before.expected, before.at_head) == ((), ("0001",), False)
    assert str(before) == "database at unmigrated, code expects 0001"
    assert (after.current, after.at_head) == (("0001",), True)


def test_a_service_is_not_serving_until_its_database_is_migrated(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scripts = migrations_dir(tmp_path / "migrations")
    config = alembic_config(scripts, database_url)

    async def health_over_time() -> list[int]:
        server = Server(
            settings(migration_check_interval_s=0.02),
            servicers=[FakeCatalog()],
            migrations=MigrationGate(database_url, scripts),
        )
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)

                async def status() -> int:
                    request = health_pb2.HealthCheckRequest(service=CATALOG)
                    return int((await health.Check(request)).status)

                seen = [await status()]
                await asyncio.to_thread(command.upgrade, config, "head")
                for _ in range(500):
                    if await status() == SERVING:
                        break
                    await asyncio.sleep(0.02)
                seen.append(await status())
                return seen
        finally:
            await server.stop()

    assert asyncio.run(health_over_time()) == [NOT_SERVING, SERVING]
    assert "database at unmigrated, code expects 0001: not serving until migrated" in (
        caplog.messages
    )
    assert asyncio.run(chassis_tables(database_url)) == ["idempotency_keys", "outbox"]
    command.downgrade(config, "base")
    assert asyncio.run(chassis_tables(database_url)) == [None, None]


def test_on_start_runs_once_migrated_and_its_failure_ends_the_service(
    database_url: str, tmp_path: Path
) -> None:
    """on_start (seed data, say) needs the schema, so it waits for the gate; if it then
    fails, the app stops the server and raises, so the process exits and is restarted."""
    scripts = migrations_dir(tmp_path / "migrations")
    config = alembic_config(scripts, database_url)
    ran: list[str] = []

    async def on_start() -> None:
        ran.append("on_start")
        raise RuntimeError("seed data is corrupt")

    async def scenario() -> None:
        app = ServiceApp(
            "catalog",
            wire=lambda runtime: Wiring(servicers=[FakeCatalog()], on_start=[on_start]),
            migrations=scripts,
        )
        service = app.serve(
            settings(metrics_port=0, migration_check_interval_s=0.02, database_url=database_url)
        )
        running = asyncio.create_task(service)
        await asyncio.sleep(0.2)
        assert ran == [], "on_start ran before the schema was migrated"
        await asyncio.to_thread(command.upgrade, config, "head")
        async with asyncio.timeout(30):
            await running

    handlers = logging.root.handlers[:]  # serve() configures logging for a whole process
    try:
        with pytest.raises(RuntimeError, match="seed data is corrupt"):
            asyncio.run(scenario())
    finally:
        logging.root.handlers[:] = handlers
        command.downgrade(config, "base")
    assert ran == ["on_start"]
