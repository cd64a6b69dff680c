"""A service as a few declarations, and the process that runs it.

    app = ServiceApp("catalog", wire=wire, errors=ERRORS, migrations=MIGRATIONS_DIR)

    def wire(runtime: Runtime) -> Wiring:
        uow = runtime.units_of_work(Repositories.on)
        return Wiring(servicers=[CatalogApi(uow)], on_start=[...], workers=[...])

`app.main()` is the service's `python -m <service>`: `migrate` brings the database to the
head revision and exits; `serve` runs the instance until SIGTERM:

1. JSON logs, tracing, Prometheus /metrics; the database pool (bounded, observed);
2. the gRPC server (chassis.server), NOT_SERVING behind the migration gate;
3. once the schema is at head: the on_start hooks (a failing one ends the process, so
   the supervisor restarts it), then the workers and the database readiness check;
4. SIGTERM/SIGINT: NOT_SERVING, in-flight calls drain (`shutdown_grace_s`), workers are
   cancelled, the pool closes, exit 0. SIGUSR1/SIGUSR2 drain and undrain (`shop drain`).

A worker (the outbox relay every service gets, a consumer, a sweeper, the saga runner) runs
beside the server for the instance's whole life. If it dies, the instance is NOT_SERVING
until it has been restarted (backoff from 0.5 s doubling to 30 s); the process stays up.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import random
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import uvloop
from prometheus_client import start_http_server
from sqlalchemy import exc as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import context, faults
from chassis.config import ServiceSettings
from chassis.consumer import EventConsumer, Subscription
from chassis.db import Database
from chassis.errors import NO_ERRORS, ErrorMap
from chassis.logs import configure_logging
from chassis.migrations import MigrationGate, upgrade_to_head
from chassis.relay import OutboxRelay, RelaySettings
from chassis.server import Readiness, Server
from chassis.telemetry import configure_tracing
from chassis.uow import SqlUnitOfWork

log = logging.getLogger("chassis.app")

R = TypeVar("R")
Hook = Callable[[], Awaitable[object]]

WORKER_BACKOFF_S = (0.5, 30.0)  # first restart delay, doubling up to the cap
DATABASE = "database"


@dataclass(frozen=True)
class Worker:
    """Something that runs beside the server until cancelled. Returning or raising is
    dying: it is logged, the instance goes NOT_SERVING, and it is restarted."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Wiring:
    """What a service instance runs."""

    servicers: Sequence[object]
    """Instances of generated *Servicer subclasses; each is registered under its service."""
    on_start: Sequence[Hook] = ()
    """Run in order once the schema is at head, before the instance serves (seed data)."""
    workers: Sequence[Worker] = ()
    subscriptions: Sequence[Subscription[Any]] = ()
    """The events it consumes (chassis.consumer); each runs as a worker."""


@dataclass(frozen=True)
class Runtime:
    """What the chassis gives a service's wiring."""

    settings: ServiceSettings
    db: Database

    def units_of_work(
        self, repositories: Callable[[AsyncConnection], R]
    ) -> Callable[[], SqlUnitOfWork[R]]:
        """A new unit of work per use-case call, with the service's repositories."""
        return lambda: SqlUnitOfWork(self.db, repositories)


@dataclass(frozen=True)
class ServiceApp:
    name: str
    """The bounded context, e.g. "catalog" (SHOP_SERVICE of its instances)."""
    wire: Callable[[Runtime], Wiring]
    migrations: Path
    """The service's Alembic directory (its env.py is chassis.migrations.run_migrations)."""
    errors: ErrorMap = NO_ERRORS
    """Its domain exceptions -> status code and ErrorReason."""
    repositories: Callable[[AsyncConnection], Any] | None = None
    """What its units of work give its use cases (`Repositories.on`); the tests' `uow`
    fixture builds units of work with it."""

    def main(self, argv: Sequence[str] | None = None) -> None:
        """`python -m <service> serve|migrate`, configured by SHOP_* variables."""
        parser = argparse.ArgumentParser(description="Run the service, or migrate its database.")
        parser.add_argument("command", choices=["serve", "migrate"])
        command = parser.parse_args(argv).command
        settings = ServiceSettings()
        if command == "migrate":
            upgrade_to_head(settings.database_url, self.migrations)
        else:
            # uvloop: about a quarter less CPU per call than asyncio's loop, measured with
            # wrk through the gateway on GetProduct (README, "Performance").
            uvloop.run(self.serve(settings))

    def database(self, settings: ServiceSettings) -> Database:
        return Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            pool_timeout_s=settings.db_pool_timeout_s,
        )

    async def serve(self, settings: ServiceSettings) -> None:
        """Runs the instance until SIGTERM or SIGINT, then shuts it down gracefully."""
        configure_logging(settings)
        context.set_service(settings.service)
        tracer_provider = configure_tracing(settings)
        metrics_server, _ = start_http_server(settings.metrics_port, addr="127.0.0.1")
        metrics_port = metrics_server.server_port
        log.info(
            "metrics on http://127.0.0.1:%d/metrics",
            metrics_port,
            extra={"metrics_port": metrics_port},
        )
        db = self.database(settings)
        db.observe(settings.service, settings.instance)
        try:
            await self._run_until_signalled(Instance(self, Runtime(settings, db)))
        finally:
            await db.dispose()
            metrics_server.shutdown()
            metrics_server.server_close()
            tracer_provider.shutdown()

    async def _run_until_signalled(self, instance: Instance) -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        loop.add_signal_handler(signal.SIGUSR1, instance.background.spawn, instance.server.drain)
        loop.add_signal_handler(signal.SIGUSR2, instance.background.spawn, instance.server.undrain)
        startup = await instance.start()
        waits: set[asyncio.Future[Any]] = {asyncio.create_task(stopping.wait())}
        if startup is not None:
            waits.add(startup)
        while not stopping.is_set():
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if any(task.exception() for task in done):
                break  # startup failed: stop, then let the error end the process
        for task in waits - {startup}:
            task.cancel()
        await instance.stop()
        if startup is not None and startup.done() and not startup.cancelled():
            startup.result()  # re-raises a failed on_start: exit non-zero, get restarted


class Instance:
    """One instance of a service: its server, and once started, its workers and the
    watch on its database, all deciding together whether it serves."""

    def __init__(self, app: ServiceApp, runtime: Runtime) -> None:
        self.runtime = runtime
        self.wiring = app.wire(runtime)
        self.server = Server(
            runtime.settings,
            servicers=self.wiring.servicers,
            errors=app.errors,
            migrations=MigrationGate(runtime.settings.database_url, app.migrations),
        )
        self.background = Background()

    async def start(self) -> asyncio.Task[None] | None:
        """Listens at once; serves once migrated and started. The background startup."""
        await self.server.start(self._on_start)
        return self.server.startup

    async def _on_start(self) -> None:
        for hook in self.wiring.on_start:
            await hook()
        # Once started, what the instance depends on decides whether it serves.
        readiness = self.server.readiness
        self.background.spawn(functools.partial(watch_database, self.runtime, readiness))
        for worker in [*self.wiring.workers, *self._chassis_workers()]:
            self.background.spawn(functools.partial(supervise, worker, readiness))

    def _chassis_workers(self) -> list[Worker]:
        """What every service runs: the outbox relay, and a consumer per subscription
        (none of them without a NATS server to talk to)."""
        settings = self.runtime.settings
        if not settings.nats_url:
            return []
        labels = (settings.service, settings.instance)
        consumers = [
            Worker(f"consumer {s.name}", EventConsumer(s, settings.nats_url, labels).run)
            for s in self.wiring.subscriptions
        ]
        relay = OutboxRelay(
            self.runtime.db,
            RelaySettings(
                nats_url=settings.nats_url,
                poll_interval_s=settings.relay_poll_interval_s,
                retention_s=settings.outbox_retention_s,
                labels=labels,
            ),
        )
        return [Worker("outbox-relay", relay.run), *consumers]

    async def stop(self) -> None:
        try:
            await self.server.stop()
        finally:
            await self.background.cancel()


class Background:
    """Tasks that run beside the server (workers, signal handlers), kept until they end."""

    STOP_WAIT_S = 10.0  # a task that ignores its cancellation must not hold shutdown forever

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def spawn(self, work: Callable[[], Awaitable[object]]) -> None:
        async def run() -> object:
            return await work()

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=self.STOP_WAIT_S)
        for task in stuck:
            log.error("%s did not stop within %.0f s of its cancellation", task, self.STOP_WAIT_S)


async def supervise(worker: Worker, readiness: Readiness) -> None:
    """Runs the worker for the instance's life, restarting it when it dies: after a bug,
    with backoff (0.5 s doubling to 30 s) and out of rotation meanwhile; after a dependency
    fault (chassis.faults), within a second and without leaving rotation, since the
    dependency's own watch (the database's) already says whether the instance serves."""
    first, cap = WORKER_BACKOFF_S
    delay = first
    blocker = f"worker {worker.name}"
    while True:
        try:
            await worker.run()
            reason = "returned"
            log.error("worker %s returned; restarting it in %.1f s", worker.name, delay)
        except Exception as error:
            if faults.classify(error) is not None:
                log.warning("worker %s: %r; restarting it", worker.name, error)
                await asyncio.sleep(random.uniform(0.1, 1.0))
                continue
            reason = f"crashed: {error.__class__.__name__}: {error}"
            log.exception("worker %s crashed; restarting it in %.1f s", worker.name, delay)
        await readiness.block(blocker, f"{blocker} {reason}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, cap)
        await readiness.unblock(blocker)


def periodic(name: str, batch: Callable[[], Awaitable[bool]], interval_s: float) -> Worker:
    """A worker that runs `batch` every `interval_s` (a sweeper, a timer). `batch` says
    whether it found a full batch (more may be due: the next one runs at once). A round
    that fails for a dependency fault is skipped (the instance's health already follows
    the dependency); a bug ends the worker, and it is restarted."""

    async def run() -> None:
        while True:
            try:
                while await batch():
                    pass
            except Exception as error:
                if faults.classify(error) is None:
                    raise
                log.warning("%s: round skipped: %r", name, error)
            await asyncio.sleep(interval_s)

    return Worker(name, run)


async def watch_database(runtime: Runtime, readiness: Readiness) -> None:
    """NOT_SERVING while the database does not answer, SERVING again once it does."""
    while True:
        try:
            async with asyncio.timeout(runtime.settings.readiness_interval_s * 2):
                await runtime.db.probe()
        except sa.TimeoutError:
            pass  # every pooled connection is busy: the database answers, the instance is busy
        except Exception as error:
            await readiness.block(DATABASE, f"database unreachable ({error.__class__.__name__})")
        else:
            await readiness.unblock(DATABASE)
        await asyncio.sleep(runtime.settings.readiness_interval_s)
