"""The supervisor: starts the stack in dependency order, keeps it running, stops it in
reverse.

Services are independent of each other: each one migrates its database and starts its
sidecars, then its instances, while every other service does the same, so the time to a
healthy stack grows little with the number of services.

It runs as `shop supervise` (detached, started by `shop up`) or inside `shop up --foreground`.
Every change is written to the run file, which is how `up`, `status` and `down` see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from shoptools.stack import nats, runfile, smtp_sink
from shoptools.stack.health import grpc_serving, http_ok_async
from shoptools.stack.logs import keep_logs_small
from shoptools.stack.postgres import Postgres
from shoptools.stack.processes import Backoff, Child, ProcessSpec, started_at
from shoptools.stack.runfile import Component, RunState
from shoptools.stack.wiring import MeshSetup, envoy_command, service_env
from shoptools.topology import Instance, Topology, port_is_free

log = logging.getLogger("shop.supervisor")

STARTUP_TIMEOUT_S = 60.0  # a cold first start of a service imports a lot
PROBE_INTERVAL_S = 0.05
POSTGRES_POLL_S = 1.0  # postgres is not our child: its exit is noticed by polling
SERVICE_GRACE_S = 10.0  # services drain in-flight calls on SIGTERM


class StartupError(Exception):
    def __init__(self, component: str, message: str) -> None:
        super().__init__(message)
        self.component = component


class Unit(Protocol):
    """Something the supervisor starts, watches and stops."""

    record: Component

    async def start(self) -> None: ...
    async def healthy(self) -> bool: ...
    async def exited(self) -> str: ...  # returns once it is gone, saying how it ended
    async def stop(self) -> None: ...


class ProcessUnit:
    def __init__(
        self, record: Component, spec: ProcessSpec, probe: Callable[[], Awaitable[bool]]
    ) -> None:
        self.record = record
        self.child = Child(spec)
        self._probe = probe

    async def start(self) -> None:
        await self.child.start()
        assert self.child.pid is not None
        self.record.pid = self.child.pid
        self.record.created = started_at(self.child.pid)

    async def healthy(self) -> bool:
        return self.child.running and await self._probe()

    async def exited(self) -> str:
        status = await self.child.wait()
        return f"killed by signal {-status}" if status < 0 else f"exited with status {status}"

    async def stop(self) -> None:
        await self.child.stop()


class PostgresUnit:
    def __init__(self, record: Component, postgres: Postgres) -> None:
        self.record = record
        self.postgres = postgres

    async def start(self) -> None:
        # pg_ctl -w returns once the server accepts connections.
        await asyncio.to_thread(self.postgres.start)
        await asyncio.to_thread(self.postgres.provision)
        self.record.pid = self.postgres.pid()
        self.record.created = started_at(self.record.pid) if self.record.pid else None

    async def healthy(self) -> bool:
        return await asyncio.to_thread(self.postgres.pid) is not None

    async def exited(self) -> str:
        while await asyncio.to_thread(self.postgres.pid) is not None:
            await asyncio.sleep(POSTGRES_POLL_S)
        return "postmaster is gone"

    async def stop(self) -> None:
        await asyncio.to_thread(self.postgres.stop)


class Supervisor:
    def __init__(
        self,
        topology: Topology,
        mesh: MeshSetup,
        on_change: Callable[[RunState], None] | None = None,
        *,
        faults: Sequence[str] = (),
        policy_file: Path | None = None,
    ) -> None:
        """`faults` and `policy_file` are what the mesh was rendered with, recorded in the
        run file so a later `shop up` can tell whether it asks for the same stack."""
        self.topology = topology
        self.mesh = mesh
        self.faults = list(faults)
        self.on_change = on_change
        self.postgres = Postgres(topology)
        self.units: list[Unit] = []  # in start order
        self.watchers: list[asyncio.Task[None]] = []
        self.began = time.monotonic()
        me = os.getpid()
        self.state = RunState(
            supervisor_pid=me,
            supervisor_created=started_at(me) or 0.0,
            state_dir=str(topology.state_dir),
            base_port=topology.base_port,
            services=dict(topology.services),
            clients=list(topology.clients),
            faults=self.faults,
            policy=str(policy_file or ""),
        )

    async def run(self) -> int:
        """Start everything, then supervise until SIGTERM, SIGINT (Ctrl-C) or SIGHUP (its
        terminal closed, in the foreground); the exit status."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        rotation = asyncio.create_task(keep_logs_small(self.topology.log_dir))
        startup = asyncio.create_task(self._start_all())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({startup, stopping}, return_when=asyncio.FIRST_COMPLETED)
        status = 0
        if not startup.done():
            log.info("stop requested during startup")
            startup.cancel()
        elif startup.exception() is not None:
            status = 1
            error = startup.exception()
            self.state.state = runfile.STACK_FAILED
            self.state.failed = error.component if isinstance(error, StartupError) else ""
            self.state.error = str(error)
            log.error("startup failed: %s: %s", self.state.failed, error)
            self._publish()
        else:
            self.state.state = runfile.STACK_READY
            self.state.ready_s = round(time.monotonic() - self.began, 2)
            log.info("stack healthy in %.2f s", self.state.ready_s)
            self._publish()
            await stopping
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await startup
        stopping.cancel()
        await self._stop_all()
        rotation.cancel()
        if status == 0:
            self.topology.run_file.unlink(missing_ok=True)
        return status

    # --- startup ------------------------------------------------------------------------
    async def _start_all(self) -> None:
        """In dependency order; what does not depend on each other starts together."""
        self._check_ports_free()
        topology = self.topology
        configs: dict[str, Path] = {}
        await _together(
            self._start_postgres(),
            self._write_mesh_then_start_nats(configs),  # NATS's certificate: the mesh's CA
            self._start_smtp_sink(),
        )
        await _together(
            *(self._start_service(service, configs) for service in topology.services),
            *(self._start_sidecar(c, configs[c.name]) for c in topology.client_sidecars()),
            self._start_gateway(configs["gateway"]),
            # After the mesh: the sign-in page signs with the key the gateway's config holds.
            self._start_web(),
        )

    async def _start_service(self, service: str, configs: Mapping[str, Path]) -> None:
        """Migrate the service's database while its sidecars start (they need no
        database), then start its instances."""
        instances = self.topology.instances(service)
        database_url = self.postgres.database_url(service)
        await _together(
            self._migrate(service, service_env(self.topology, instances[0], database_url)),
            *(self._start_sidecar(i, configs[i.name]) for i in instances),
        )
        await _together(*(self._start_app(i, database_url) for i in instances))

    async def _start_postgres(self) -> None:
        pg = self.postgres
        record = self._add(Component("postgres", "postgres", pg.address, str(pg.log_file)))
        await self._launch(PostgresUnit(record, pg))

    async def _write_mesh_then_start_nats(self, configs: dict[str, Path]) -> None:
        await self._write_mesh(configs)
        await self._start_nats()

    async def _start_nats(self) -> None:
        topology = self.topology
        log_file = topology.log_dir / "nats.log"
        url = nats.client_url(topology)
        record = self._add(Component("nats", "nats", url, str(log_file)))
        write_config = self.mesh.write_nats_config
        if write_config is None:
            raise self._failed(record, ValueError("no NATS configuration (users, TLS) given"))
        try:
            await asyncio.to_thread(write_config)
        except Exception as error:
            raise self._failed(record, error)  # noqa: B904 - chained implicitly
        spec = ProcessSpec("nats", nats.server_command(topology), log_file, self._cwd())
        health = nats.health_url(topology)
        await self._launch(ProcessUnit(record, spec, lambda: http_ok_async(health)))
        with self._task("streams", f"{len(nats.STREAMS)} JetStream streams"):
            await nats.ensure_streams(topology)

    async def _start_smtp_sink(self) -> None:
        """Where the services' email goes (SHOP_SMTP_URL): a real SMTP server that keeps
        every message in the stack's mailbox (`shop mail`)."""
        topology = self.topology
        log_file = topology.log_dir / "smtp-sink.log"
        port = topology.smtp_port
        record = self._add(
            Component("smtp-sink", "smtp", f"smtp://127.0.0.1:{port}", str(log_file))
        )
        command = [
            sys.executable,
            "-m",
            "shoptools.stack.smtp_sink",
            "--port",
            str(port),
            "--maildir",
            str(topology.mail_dir),
        ]
        spec = ProcessSpec("smtp-sink", command, log_file, self._cwd())
        await self._launch(ProcessUnit(record, spec, lambda: smtp_sink.accepts(port)))

    async def _start_web(self) -> None:
        """The storefront and the operations console (shopweb), behind the gateway: it
        calls the REST API through the gateway like any client, and signs development
        tokens with the stack's key (its sign-in page)."""
        topology = self.topology
        log_file = topology.log_dir / "web.log"
        address = f"http://127.0.0.1:{topology.web_port}"
        record = self._add(Component("web", "web", address, str(log_file)))
        command = [
            sys.executable,
            "-m",
            "shopweb",
            "serve",
            "--port",
            str(topology.web_port),
            "--gateway-url",
            f"http://127.0.0.1:{topology.gateway_port}",
            "--dev-identity-pki-dir",
            str(topology.pki_dir),
            "--stack-state-dir",
            str(topology.state_dir),
        ]
        spec = ProcessSpec("web", command, log_file, self._cwd(), env={"PYTHONUNBUFFERED": "1"})
        await self._launch(ProcessUnit(record, spec, lambda: http_ok_async(f"{address}/healthz")))

    async def _write_mesh(self, configs: dict[str, Path]) -> None:
        with self._task("mesh", "") as record:
            configs.update(await asyncio.to_thread(self.mesh.write_configs))
            record.address = f"PKI, {len(configs)} Envoy configs"

    async def _start_app(self, instance: Instance, database_url: str) -> None:
        log_file = self.topology.log_dir / f"{instance.name}.log"
        record = self._add(
            Component(
                instance.name,
                "service",
                f"127.0.0.1:{instance.app_port}",
                str(log_file),
                service=instance.service,
                metrics=f"127.0.0.1:{instance.metrics_port}",
            )
        )
        spec = ProcessSpec(
            instance.name,
            [sys.executable, "-m", instance.service, "serve"],
            log_file,
            self._cwd(),
            env=service_env(self.topology, instance, database_url),
            grace_s=SERVICE_GRACE_S,
        )
        await self._launch(ProcessUnit(record, spec, lambda: grpc_serving(instance.app_port)))

    async def _start_gateway(self, config: Path) -> None:
        topology = self.topology
        log_file = topology.log_dir / "gateway.log"
        record = self._add(
            Component(
                "gateway",
                "gateway",
                f"http://127.0.0.1:{topology.gateway_port}",
                str(log_file),
                metrics=f"127.0.0.1:{topology.gateway_admin_port}",
            )
        )
        spec = ProcessSpec(
            "gateway",
            envoy_command(self.mesh.envoy, config, topology.gateway_admin_port),
            log_file,
            self._cwd(),
        )
        ready = f"http://127.0.0.1:{topology.gateway_admin_port}/ready"
        await self._launch(ProcessUnit(record, spec, lambda: http_ok_async(ready)))

    async def _start_sidecar(self, instance: Instance, config: Path) -> None:
        """An instance's Envoy; a client sidecar (`shop up --client`) has only the outbound
        listener."""
        name = f"{instance.name}-sidecar"
        log_file = self.topology.log_dir / f"{name}.log"
        client = instance in self.topology.client_sidecars()
        listens = instance.outbound_port if client else instance.inbound_port
        record = self._add(
            Component(
                name,
                "sidecar",
                f"127.0.0.1:{listens}",
                str(log_file),
                service=instance.service,
                metrics=f"127.0.0.1:{instance.admin_port}",
            )
        )
        command = envoy_command(self.mesh.envoy, config, instance.admin_port)
        spec = ProcessSpec(name, command, log_file, self._cwd())
        ready = f"http://127.0.0.1:{instance.admin_port}/ready"
        await self._launch(ProcessUnit(record, spec, lambda: http_ok_async(ready)))

    async def _migrate(self, service: str, env: dict[str, str]) -> None:
        log_file = self.topology.log_dir / f"{service}-migrate.log"
        with self._task(f"{service}-migrate", f"database {service}", str(log_file)) as record:
            child = Child(
                ProcessSpec(
                    record.name,
                    [sys.executable, "-m", service, "migrate"],
                    log_file,
                    self._cwd(),
                    env=env,
                )
            )
            await child.start()
            try:
                async with asyncio.timeout(STARTUP_TIMEOUT_S):
                    status = await child.wait()
            except TimeoutError:
                raise StartupError(
                    record.name, f"migrations still running after {STARTUP_TIMEOUT_S:.0f} s"
                ) from None
            finally:
                await child.stop()
            if status != 0:
                raise StartupError(record.name, f"migrations exited with status {status}")

    async def _launch(self, unit: Unit) -> None:
        """Start a unit, wait until it is healthy, then keep it running."""
        self.units.append(unit)
        record = unit.record
        record.state = runfile.STARTING
        self._publish()
        began = time.monotonic()
        try:
            await unit.start()
            await self._until_healthy(unit)
        except Exception as error:
            raise self._failed(record, error)  # noqa: B904 - chained implicitly
        record.state = runfile.HEALTHY
        record.startup_s = round(time.monotonic() - began, 2)
        log.info(
            "%s healthy at %s in %.2f s (pid %s)",
            record.name,
            record.address,
            record.startup_s,
            record.pid,
        )
        self._publish()
        self.watchers.append(asyncio.create_task(self._keep_running(unit)))

    async def _until_healthy(self, unit: Unit) -> None:
        ending = asyncio.create_task(unit.exited())
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not await unit.healthy():
                if ending.done():
                    raise StartupError(unit.record.name, ending.result())
                if time.monotonic() > deadline:
                    raise StartupError(
                        unit.record.name, f"not healthy after {STARTUP_TIMEOUT_S:.0f} s"
                    )
                await asyncio.sleep(PROBE_INTERVAL_S)
        finally:
            ending.cancel()

    # --- supervision --------------------------------------------------------------------
    async def _keep_running(self, unit: Unit) -> None:
        """Restart the unit whenever it ends, with exponential backoff."""
        record = unit.record
        backoff = Backoff()
        healthy_since = time.monotonic()
        while True:
            how = await unit.exited()
            delay = backoff.next_delay(time.monotonic() - healthy_since)
            record.restarts += 1
            record.detail = f"{how}; restart {record.restarts} in {delay:.1f} s"
            log.warning("%s (pid %s) %s", record.name, record.pid, record.detail)
            record.state = runfile.RESTARTING
            record.pid = record.created = None
            self._publish()
            await asyncio.sleep(delay)
            try:
                await unit.start()
                await self._until_healthy(unit)
            except Exception as error:  # try again after the next backoff
                log.warning("%s did not come back: %s", record.name, error)
                await unit.stop()
                healthy_since = time.monotonic()
                continue
            record.state = runfile.HEALTHY
            log.info("%s healthy again (pid %s)", record.name, record.pid)
            self._publish()
            healthy_since = time.monotonic()

    async def _stop_all(self) -> None:
        """In reverse start order; postgres last (pg_ctl stop)."""
        if self.state.state != runfile.STACK_FAILED:
            self.state.state = runfile.STACK_STOPPING
            self._publish()
        for watcher in self.watchers:
            watcher.cancel()
        await asyncio.gather(*self.watchers, return_exceptions=True)
        for unit in reversed(self.units):
            log.info("stopping %s (pid %s)", unit.record.name, unit.record.pid)
            try:
                await unit.stop()
            except Exception:
                log.exception("stopping %s failed", unit.record.name)
            unit.record.state = runfile.STOPPED
            unit.record.pid = None
        # Postgres may be running from a start that failed before its unit was recorded.
        await asyncio.to_thread(self.postgres.stop)
        self._publish()
        log.info("stopped")

    # --- bookkeeping --------------------------------------------------------------------
    def _add(self, record: Component) -> Component:
        self.state.components.append(record)
        return record

    def _failed(self, record: Component, error: Exception) -> StartupError:
        """Records a failed start for progress and status; the error to raise for it."""
        record.state = runfile.FAILED
        record.detail = str(error)
        self._publish()
        return error if isinstance(error, StartupError) else StartupError(record.name, str(error))

    @contextlib.contextmanager
    def _task(self, name: str, address: str, log_file: str = "") -> Iterator[Component]:
        """A one-off step (no process to keep running), recorded for progress and status."""
        record = self._add(Component(name, "task", address, log_file, state=runfile.STARTING))
        began = time.monotonic()
        self._publish()
        try:
            yield record
        except Exception as error:
            raise self._failed(record, error)  # noqa: B904 - chained implicitly
        record.state = runfile.DONE
        record.startup_s = round(time.monotonic() - began, 2)
        self._publish()

    def _cwd(self) -> Path:
        # Every process runs in the state directory, which is also how `down` recognizes
        # what belongs to this stack.
        return self.topology.state_dir

    def _publish(self) -> None:
        runfile.save(self.topology.run_file, self.state)
        if self.on_change:
            self.on_change(self.state)

    def _check_ports_free(self) -> None:
        for port, owner in self.topology.ports():
            if not port_is_free(port):
                raise StartupError(owner, f"port {port} ({owner}) is already in use")


async def _together(*steps: Coroutine[Any, Any, None]) -> None:
    """Run steps concurrently; the first failure cancels the others and is raised as is."""
    try:
        async with asyncio.TaskGroup() as group:
            for step in steps:
                group.create_task(step)
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
