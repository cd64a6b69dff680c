"""Server bootstrap: what `python -m <service> serve` runs.

serve() configures the process (JSON logs, tracing, Prometheus /metrics), starts the gRPC
server with the chassis interceptors, gRPC health (overall "" and per service) and server
reflection, keeps the health NOT_SERVING until the migration gate passes, and on SIGTERM
or SIGINT shuts down gracefully: NOT_SERVING, no new calls, in-flight calls drain for
`shutdown_grace_s`, then on_stop, then exit. SIGUSR1 drains the instance (NOT_SERVING, so
the mesh routes around it, while it keeps running); SIGUSR2 puts it back (`shop drain`).

The interceptors, outermost first; each sees everything the ones inside it decided:

    1. correlation  sets the correlation id and caller first, so every log line has them
    2. access log   one line per call, including calls the inner ones reject
    3. metrics      counts every call by its final code, rejected ones too
    4. tracing      the server span covers all the time the service spends on the call
    5. deadline     the call's budget covers validation and the handler
    6. validation   a request that breaks its contract never reaches service code
    7. errors       innermost: turns what the handler raised into the status all others see
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server
from sqlalchemy.exc import SQLAlchemyError

from chassis import context
from chassis.config import ServiceSettings
from chassis.interceptors.access_log import AccessLogInterceptor
from chassis.interceptors.correlation import CorrelationInterceptor
from chassis.interceptors.deadline import DeadlineInterceptor
from chassis.interceptors.errors import ErrorInterceptor
from chassis.interceptors.metrics import MetricsInterceptor
from chassis.interceptors.tracing import TracingInterceptor
from chassis.interceptors.validation import ValidationInterceptor
from chassis.logs import configure_logging
from chassis.migrations import MigrationGate
from chassis.telemetry import configure_tracing

log = logging.getLogger("chassis.server")

Hook = Callable[[], Awaitable[object]]


class ServiceRegistration(NamedTuple):
    name: str
    """The gRPC service's full name, e.g. "shop.catalog.v1.CatalogService"."""
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    """The generated add_<Service>Servicer_to_server function."""
    servicer: object


def interceptors(settings: ServiceSettings) -> list[grpc.aio.ServerInterceptor]:
    """The chassis interceptors in their order (see the module docstring)."""
    return [
        CorrelationInterceptor(),
        AccessLogInterceptor(),
        MetricsInterceptor(settings.service, settings.instance),
        TracingInterceptor(),
        DeadlineInterceptor(settings.default_deadline_s),
        ValidationInterceptor(),
        ErrorInterceptor(settings.service),
    ]


class Server:
    """The service's gRPC server, with health, reflection and the migration gate."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        services: Sequence[ServiceRegistration],
        migrations: MigrationGate | None,
        on_stop: Hook | None = None,
    ) -> None:
        self.port = 0
        """The bound port, once started (grpc_port 0 picks a free one)."""
        self._settings = settings
        self._gate = migrations
        self._on_stop = on_stop
        self._gate_task: asyncio.Task[None] | None = None
        self._ready = False  # on_start has run and the migration gate has passed
        self._drained = False
        # so_reuseport off: a second instance on a taken port must fail, not share it.
        self._server = grpc.aio.server(
            interceptors=interceptors(settings), options=[("grpc.so_reuseport", 0)]
        )
        for registration in services:
            registration.add_to_server(registration.servicer, self._server)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self._health_names = ["", *(registration.name for registration in services)]
        reflection.enable_server_reflection(
            [*self._health_names[1:], health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )

    async def start(self, on_start: Hook | None = None) -> None:
        """Listens on 127.0.0.1:grpc_port, NOT_SERVING until the migration gate passes and
        then on_start has run (it may need the schema, e.g. to load seed data).

        Without a gate, start() returns once on_start has run; with one, both happen in the
        background and a failing on_start ends the process (see serve()).
        """
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self._settings.grpc_port}")
        await self._server.start()
        log.info("listening on 127.0.0.1:%d", self.port, extra={"grpc_port": self.port})
        if self._gate is None:
            try:
                await self._open(on_start)
            except BaseException:
                await self._server.stop(None)
                raise
        else:
            self._gate_task = asyncio.create_task(self._open_when_migrated(self._gate, on_start))

    @property
    def startup(self) -> asyncio.Task[None] | None:
        """The background wait for the migration gate and on_start, if there is one."""
        return self._gate_task

    async def stop(self) -> None:
        """NOT_SERVING, refuse new calls, let in-flight ones finish within the grace
        period, then run on_stop."""
        grace = self._settings.shutdown_grace_s
        log.info("shutting down: draining in-flight calls for up to %.1f s", grace)
        await self._health.enter_graceful_shutdown()  # NOT_SERVING, and stays so
        if self._gate_task is not None and not self._gate_task.done():
            self._gate_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._gate_task
        await self._server.stop(grace)
        try:
            if self._on_stop is not None:
                await self._on_stop()
        finally:
            if self._gate is not None:
                await self._gate.close()
        log.info("stopped")

    async def _open_when_migrated(self, gate: MigrationGate, on_start: Hook | None) -> None:
        reported = ""
        while True:
            try:
                revision = await gate.check()
            except (SQLAlchemyError, OSError) as error:
                state = f"cannot read the schema revision ({error.__class__.__name__}: {error})"
            else:
                if revision.at_head:
                    log.info("%s: migrated", revision)
                    await self._open(on_start)
                    return
                state = f"{revision}: not serving until migrated"
            if state != reported:  # one line per change, not one per check
                log.warning(state)
                reported = state
            await asyncio.sleep(self._settings.migration_check_interval_s)

    async def drain(self) -> None:
        """Out of rotation, still running: NOT_SERVING until undrain()."""
        self._drained = True
        log.warning("drained: not serving, so callers route elsewhere (SIGUSR2 undrains)")
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)

    async def undrain(self) -> None:
        """Back in rotation: SERVING again, unless still waiting for on_start or migrations."""
        self._drained = False
        if self._ready:
            log.warning("undrained: serving again")
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        else:
            log.warning("undrained, but not serving yet: starting or waiting for migrations")

    async def _open(self, on_start: Hook | None) -> None:
        """The schema is at head: run on_start, then SERVING, unless drained."""
        if on_start is not None:
            await on_start()
        self._ready = True
        if self._drained:
            log.warning("ready, but drained: not serving until undrained (SIGUSR2)")
        else:
            log.info("serving")
            await self._set_health(health_pb2.HealthCheckResponse.SERVING)

    async def _set_health(self, status: int) -> None:
        for name in self._health_names:
            await self._health.set(name, status)


async def serve(
    settings: ServiceSettings,
    *,
    services: Sequence[ServiceRegistration],
    migrations: MigrationGate | None,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
) -> None:
    """Runs the service until SIGTERM or SIGINT, then shuts it down gracefully."""
    configure_logging(settings)
    context.set_service(settings.service)
    tracer_provider = configure_tracing(settings)
    metrics_server, _ = start_http_server(settings.metrics_port, addr="127.0.0.1")
    metrics_port = metrics_server.server_port
    log.info(
        "metrics on http://127.0.0.1:%d/metrics", metrics_port, extra={"metrics_port": metrics_port}
    )
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        server = Server(settings, services=services, migrations=migrations, on_stop=on_stop)
        rotation: set[asyncio.Task[None]] = set()  # the signal handlers' tasks, kept alive

        def in_rotation(serving: bool) -> None:
            task = asyncio.create_task(server.undrain() if serving else server.drain())
            rotation.add(task)
            task.add_done_callback(rotation.discard)

        loop.add_signal_handler(signal.SIGUSR1, in_rotation, False)
        loop.add_signal_handler(signal.SIGUSR2, in_rotation, True)
        await server.start(on_start)
        waits: set[asyncio.Future[Any]] = {asyncio.create_task(stopping.wait())}
        if server.startup is not None:
            waits.add(server.startup)
        while not stopping.is_set():
            done, waits = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if any(task.exception() for task in done):
                break  # startup failed: stop, then let the error end the process
        await server.stop()
        if server.startup is not None and server.startup.done():
            server.startup.result()  # re-raises a failed on_start: exit non-zero, get restarted
    finally:
        metrics_server.shutdown()
        metrics_server.server_close()
        tracer_provider.shutdown()
