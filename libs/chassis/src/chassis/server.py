"""The gRPC server of a service instance: the chassis interceptors, gRPC health (overall ""
and per service), server reflection, the migration gate, and readiness.

The instance is SERVING exactly when nothing holds it out of rotation: it has started (the
migration gate passed and on_start ran), it is not drained (`shop drain`), and whatever
it depends on is there (its database, its workers: chassis.app reports those). Liveness
is the process itself: an instance whose database is down stays up, NOT_SERVING, and
comes back by itself. chassis.app runs the server as a process (`python -m <svc> serve`).

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
import importlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Gauge
from sqlalchemy.exc import SQLAlchemyError

from chassis.config import ServiceSettings
from chassis.errors import NO_ERRORS, ErrorMap
from chassis.interceptors._base import InterceptorChain
from chassis.interceptors.access_log import AccessLogInterceptor
from chassis.interceptors.correlation import CorrelationInterceptor
from chassis.interceptors.deadline import DeadlineInterceptor
from chassis.interceptors.errors import ErrorInterceptor
from chassis.interceptors.metrics import MetricsInterceptor
from chassis.interceptors.tracing import TracingInterceptor
from chassis.interceptors.validation import ValidationInterceptor
from chassis.migrations import MigrationGate

log = logging.getLogger("chassis.server")

Hook = Callable[[], Awaitable[object]]
STARTING = "starting"
DRAINED = "drained"

# Why an instance is out of rotation, for people and `shop status` (health says only that).
NOT_SERVING_BECAUSE = Gauge(
    "instance_not_serving",
    "1 while this holds the instance out of rotation (starting, drained, database, worker).",
    ("service", "instance", "blocker"),
)


def interceptors(
    settings: ServiceSettings, errors: ErrorMap = NO_ERRORS
) -> list[grpc.aio.ServerInterceptor]:
    """The chassis interceptors in their order (see the module docstring), as one chain:
    gRPC then asks one interceptor per call for the handler instead of seven."""
    stages = [
        CorrelationInterceptor(),
        AccessLogInterceptor(),
        MetricsInterceptor(settings.service, settings.instance),
        TracingInterceptor(),
        DeadlineInterceptor(settings.default_deadline_s),
        ValidationInterceptor(),
        ErrorInterceptor(errors),
    ]
    return [InterceptorChain(stages)]


def registration(servicer: object) -> tuple[str, Callable[[Any, grpc.aio.Server], None]]:
    """The gRPC service a servicer implements (its full name) and the generated function
    that adds it to a server, found from the generated base class it derives from."""
    for base in type(servicer).__mro__:
        if base.__module__.endswith("_pb2_grpc") and base.__name__.endswith("Servicer"):
            stubs = importlib.import_module(base.__module__)
            messages = importlib.import_module(base.__module__.removesuffix("_grpc"))
            service = messages.DESCRIPTOR.services_by_name[base.__name__.removesuffix("Servicer")]
            add: Callable[[Any, grpc.aio.Server], None] = getattr(
                stubs, f"add_{base.__name__}_to_server"
            )
            return service.full_name, add
    raise TypeError(f"{type(servicer).__name__} derives from no generated *Servicer class")


class Readiness:
    """The instance's health: SERVING exactly when nothing blocks it. Each blocker has a
    name ("starting", "drained", "database", "worker outbox-relay") and a reason."""

    def __init__(
        self, health: health.aio.HealthServicer, names: Sequence[str], labels: tuple[str, str]
    ) -> None:
        self._health = health
        self._names = list(names)
        self._labels = labels  # (service, instance)
        self._blockers: dict[str, str] = {STARTING: "starting"}
        self._serving: bool | None = None
        NOT_SERVING_BECAUSE.labels(*labels, STARTING).set(1)

    @property
    def serving(self) -> bool:
        return not self._blockers

    def blocked_by(self, name: str) -> bool:
        return name in self._blockers

    async def block(self, name: str, reason: str) -> None:
        if self._blockers.get(name) != reason:
            self._blockers[name] = reason
            NOT_SERVING_BECAUSE.labels(*self._labels, name).set(1)
            await self._publish()

    async def unblock(self, name: str) -> None:
        if self._blockers.pop(name, None) is not None:
            NOT_SERVING_BECAUSE.labels(*self._labels, name).set(0)
            await self._publish()

    async def reset(self) -> None:
        """NOT_SERVING for every name, before the server takes its first call."""
        self._serving = None
        await self._publish()

    async def _publish(self) -> None:
        serving = self.serving
        if serving:
            log.info("serving")
        else:
            log.warning("not serving: %s", "; ".join(self._blockers.values()))
        if serving != self._serving:
            self._serving = serving
            status = health_pb2.HealthCheckResponse.NOT_SERVING
            if serving:
                status = health_pb2.HealthCheckResponse.SERVING
            for name in self._names:
                await self._health.set(name, status)


class Server:
    """The service's gRPC server, with health, reflection and the migration gate."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        servicers: Sequence[object],
        errors: ErrorMap = NO_ERRORS,
        migrations: MigrationGate | None = None,
        on_stop: Hook | None = None,
    ) -> None:
        self.port = 0
        """The bound port, once started (grpc_port 0 picks a free one)."""
        self._settings = settings
        self._gate = migrations
        self._on_stop = on_stop
        self._gate_task: asyncio.Task[None] | None = None
        # so_reuseport off: a second instance on a taken port must fail, not share it.
        self._server = grpc.aio.server(
            interceptors=interceptors(settings, errors), options=[("grpc.so_reuseport", 0)]
        )
        names = []
        for servicer in servicers:
            name, add_to_server = registration(servicer)
            add_to_server(servicer, self._server)
            names.append(name)
        self._health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        self.readiness = Readiness(
            self._health, ["", *names], (settings.service, settings.instance)
        )
        reflection.enable_server_reflection(
            [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server
        )

    async def start(self, on_start: Hook | None = None) -> None:
        """Listens on listen_host:grpc_port, NOT_SERVING until the migration gate passes and
        then on_start has run (it may need the schema, e.g. to load seed data).

        Without a gate, start() returns once on_start has run; with one, both happen in the
        background (`startup`) and a failing on_start ends the process (see chassis.app).
        """
        await self.readiness.reset()
        host = self._settings.listen_host
        self.port = self._server.add_insecure_port(f"{host}:{self._settings.grpc_port}")
        await self._server.start()
        log.info("listening on %s:%d", host, self.port, extra={"grpc_port": self.port})
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
        await self.readiness.block(DRAINED, "drained")

    async def undrain(self) -> None:
        """Back in rotation, unless something else still holds it out."""
        await self.readiness.unblock(DRAINED)

    async def _open(self, on_start: Hook | None) -> None:
        """The schema is at head: run on_start, then serve unless something else blocks."""
        if on_start is not None:
            await on_start()
        await self.readiness.unblock(STARTING)
